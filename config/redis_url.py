"""``REDIS_URL`` read once: one Redis (``redis://``, ``rediss://``, ``unix://``) or Redis
Sentinel (``redis+sentinel://``), and a printer that never shows its password.

Pure functions over the text; the clients are built in ``workers.redis_conn``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlparse, urlunparse

DIRECT_SCHEMES = frozenset({"redis", "rediss", "unix"})
# The form rq-dashboard's Redis-Sentinel-Url reads; ``rediss+sentinel`` speaks TLS to the
# sentinels and to the Redis servers they name.
SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}
DEFAULT_SENTINEL_PORT = 26379
MASKED = "***"


@dataclass(frozen=True)
class DirectTarget:
    """One Redis server: redis-py's ``from_url`` reads it as it is."""

    url: str


@dataclass(frozen=True)
class SentinelTarget:
    """A Redis primary found through sentinels (``Sentinel.master_for``)."""

    sentinels: tuple[tuple[str, int], ...]
    service_name: str
    db: int
    username: str | None
    password: str | None
    ssl: bool


RedisTarget = DirectTarget | SentinelTarget


def parse_redis_url(raw: str) -> RedisTarget:
    """Parse ``raw``; raises ``ValueError`` naming what is wrong (never echoing a password)."""
    scheme = raw.partition("://")[0].lower() if "://" in raw else ""
    if scheme in SENTINEL_SCHEMES:
        return _parse_sentinel(raw, ssl=SENTINEL_SCHEMES[scheme])
    if scheme not in DIRECT_SCHEMES:
        raise ValueError(
            "expected a redis://, rediss://, unix:// or redis+sentinel:// URL "
            "(redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db])"
        )
    parsed = urlparse(raw)
    if scheme != "unix" and not parsed.hostname:
        raise ValueError("the URL names no host")
    try:
        parsed.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ValueError("the URL has an invalid port") from None
    db = parsed.path.strip("/")
    if scheme != "unix" and db and not db.isdigit():
        raise ValueError(f"the database must be a number, got {db!r}")
    return DirectTarget(raw)


def _parse_sentinel(raw: str, *, ssl: bool) -> SentinelTarget:
    rest = raw.partition("://")[2]
    if "?" in rest or "#" in rest:
        raise ValueError("a redis+sentinel:// URL takes no query or fragment")
    netloc, _, path = rest.partition("/")
    credentials, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = credentials.partition(":")
        if not colon:
            raise ValueError("credentials must be written user:password@ or :password@")
        username, password = unquote(user) or None, unquote(secret) or None
    sentinels = tuple(_host_port(part) for part in hosts.split(",") if part.strip())
    if not sentinels:
        raise ValueError("the URL names no sentinel (host:port[,host:port...])")
    parts = [p for p in path.split("/") if p]
    if not parts or len(parts) > 2:
        raise ValueError("expected /<service_name>[/<db>] after the sentinels")
    db = parts[1] if len(parts) == 2 else "0"
    if not db.isdigit():
        raise ValueError(f"the database must be a number, got {db!r}")
    return SentinelTarget(sentinels, unquote(parts[0]), int(db), username, password, ssl)


def _host_port(part: str) -> tuple[str, int]:
    part = part.strip()
    if part.startswith("["):  # [IPv6]:port
        host, _, tail = part[1:].partition("]")
        port_text = tail.removeprefix(":")
    else:
        host, _, port_text = part.rpartition(":") if ":" in part else (part, "", "")
    if not host:
        raise ValueError(f"sentinel {part!r} names no host")
    if not port_text:
        return host, DEFAULT_SENTINEL_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"sentinel {host!r} has an invalid port")
    return host, int(port_text)


def redis_url_secrets(raw: str) -> tuple[str, ...]:
    """The password in ``raw``, as written and decoded, for the log redaction filter."""
    found: list[str] = []
    try:
        target = parse_redis_url(raw)
    except ValueError:
        return ()
    if isinstance(target, SentinelTarget):
        found.append(target.password or "")
    else:
        parsed = urlparse(raw)
        found.append(unquote(parsed.password or ""))
        found.extend(v for k, v in parse_qsl(parsed.query) if "password" in k.lower())
    found.extend(quote(s, safe="") for s in list(found))
    return tuple(sorted({s for s in found if s}))


def describe_redis_url(raw: str) -> str:
    """``raw`` fit to print: the password (in the userinfo or the query) masked."""
    scheme, sep, rest = raw.partition("://")
    if not sep:
        return MASKED
    if scheme.lower() in SENTINEL_SCHEMES:
        netloc, slash, path = rest.partition("/")
        credentials, at, hosts = netloc.rpartition("@")
        if at and ":" in credentials:
            credentials = f"{credentials.partition(':')[0]}:{MASKED}"
        elif at:
            credentials = MASKED
        return f"{scheme}://{credentials}{at}{hosts}{slash}{path}"
    parsed = urlparse(raw)
    netloc = parsed.netloc
    if "@" not in netloc and "password" not in parsed.query.lower():
        return raw
    if "@" in netloc:
        credentials, _, hostport = netloc.rpartition("@")
        user = credentials.partition(":")[0] if ":" in credentials else ""
        netloc = f"{user}:{MASKED}@{hostport}"
    query = urlencode(
        [(k, MASKED if "password" in k.lower() else v) for k, v in parse_qsl(parsed.query)],
        safe="*",
    )
    return urlunparse(parsed._replace(netloc=netloc, query=query))
