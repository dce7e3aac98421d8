"""Endpoints the application registered: where to deliver, which types, and their state.

Each endpoint is one Redis hash: ``doc`` (its JSON) and delivery counters. Its signing
secrets are not stored: ``secret_versions`` lists which versions still sign (the current
one, and the previous one for 24 h after a rotation); ``signing.derive_secret`` makes them.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
from redis import Redis, WatchError

from config.settings import Settings
from workers import keys
from workers.notify.events import EVENT_TYPES
from workers.notify.signing import derive_secret

ROTATION_OVERLAP_MS = 24 * 3600 * 1000
COUNTERS = ("attempts", "delivered", "failed")


class EndpointError(ValueError):
    """A refused endpoint field; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def now_ms() -> int:
    return int(time.time() * 1000)


# ---- pure checks -------------------------------------------------------------------


def check_url(url: str) -> str:
    """Only absolute http/https URLs with a host."""
    if not isinstance(url, str) or len(url) > 2048:
        raise EndpointError("url", "must be a URL of at most 2048 characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointError("url", "must be an http:// or https:// URL with a host")
    return url


def check_event_types(types: Any) -> list[str] | None:
    if types is None:
        return None
    if not isinstance(types, list) or not types:
        raise EndpointError("event_types", "must be a non-empty list, or omitted for all")
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        raise EndpointError("event_types", f"unknown: {', '.join(map(str, unknown))}")
    return sorted(set(types))


def host_allowed(host: str, addresses: list[str], allowed: tuple[str, ...]) -> bool:
    """With ``NOTIFY_ALLOWED_HOSTS`` set, a host is allowed when named in it, or when every
    address it resolves to lies in a listed CIDR (or is a listed address)."""
    if not allowed:
        return True
    host = host.lower().strip("[]")
    if host in allowed:
        return True
    networks = []
    for entry in allowed:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue  # a host name, matched above
    if not addresses or not networks:
        return False
    return all(any(ipaddress.ip_address(a) in net for net in networks) for a in addresses)


def resolve(host: str) -> list[str]:
    """The addresses a host name resolves to (empty when it does not)."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), None)
    except (OSError, UnicodeError):
        return []
    return sorted({str(info[4][0]).split("%")[0] for info in infos})


def url_allowed(url: str, allowed: tuple[str, ...]) -> bool:
    if not allowed:
        return True
    host = urlsplit(url).hostname or ""
    return host_allowed(host, resolve(host), allowed)


def wants(endpoint: dict[str, Any], message_type: str) -> bool:
    types = endpoint["event_types"]
    return types is None or message_type in types


def signing_versions(endpoint: dict[str, Any], at_ms: int) -> list[int]:
    """Secret versions that sign at ``at_ms``, newest first."""
    live = [
        v["version"]
        for v in endpoint["secret_versions"]
        if v["expires_ms"] is None or v["expires_ms"] > at_ms
    ]
    return sorted(live, reverse=True)


def secrets_for(settings: Settings, endpoint: dict[str, Any], at_ms: int) -> list[str]:
    key = signing_key(settings)
    return [derive_secret(key, endpoint["id"], v) for v in signing_versions(endpoint, at_ms)]


def signing_key(settings: Settings) -> str:
    if settings.notify_signing_key is None:
        raise EndpointError("NOTIFY_SIGNING_KEY", "is not set: notifications are disabled")
    return settings.notify_signing_key.reveal()


# ---- store -------------------------------------------------------------------------


def _decode(raw: Any) -> dict[str, Any] | None:
    if b"doc" not in raw:
        return None
    endpoint: dict[str, Any] = orjson.loads(raw[b"doc"])
    endpoint["counts"] = {name: int(raw.get(name.encode(), 0)) for name in COUNTERS}
    return endpoint


def load(connection: Redis, endpoint_id: str) -> dict[str, Any] | None:
    return _decode(connection.hgetall(keys.notify_endpoint(endpoint_id)))


def list_all(connection: Redis) -> list[dict[str, Any]]:
    ids = sorted(keys.members(connection.smembers(keys.NOTIFY_ENDPOINTS)))
    with connection.pipeline(transaction=False) as pipe:
        for endpoint_id in ids:
            pipe.hgetall(keys.notify_endpoint(endpoint_id))
        found = [_decode(raw) for raw in pipe.execute()]
    return sorted((e for e in found if e), key=lambda e: e["created_ms"], reverse=True)


def create(
    connection: Redis,
    settings: Settings,
    url: str,
    event_types: Any,
    description: Any,
) -> tuple[dict[str, Any], str]:
    """Store a new endpoint; returns it and its first secret (shown once)."""
    key = signing_key(settings)
    check_url(url)
    types = check_event_types(event_types)
    if description is not None and (not isinstance(description, str) or len(description) > 500):
        raise EndpointError("description", "must be text of at most 500 characters")
    if not url_allowed(url, settings.notify_allowed_hosts):
        raise EndpointError("url", "host is not in NOTIFY_ALLOWED_HOSTS")
    created = now_ms()
    endpoint: dict[str, Any] = {
        "id": "ep_" + secrets.token_hex(8),
        "url": url,
        "event_types": types,
        "description": description or "",
        "disabled": False,
        "disabled_reason": None,
        "disabled_ms": None,
        "failing_since_ms": None,
        "secret_versions": [{"version": 1, "expires_ms": None}],
        "created_ms": created,
        "updated_ms": created,
    }
    with connection.pipeline() as pipe:
        pipe.hset(keys.notify_endpoint(endpoint["id"]), "doc", orjson.dumps(endpoint))
        pipe.sadd(keys.NOTIFY_ENDPOINTS, endpoint["id"])
        pipe.execute()
    endpoint["counts"] = dict.fromkeys(COUNTERS, 0)
    return endpoint, derive_secret(key, endpoint["id"], 1)


def update(
    connection: Redis, endpoint_id: str, change: Callable[[dict[str, Any]], None]
) -> dict[str, Any] | None:
    """Apply ``change`` to the stored endpoint atomically; None when it does not exist."""
    key = keys.notify_endpoint(endpoint_id)
    with connection.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                raw = pipe.hget(key, "doc")
                if raw is None:
                    return None
                endpoint = orjson.loads(raw)
                change(endpoint)
                endpoint["updated_ms"] = now_ms()
                pipe.multi()
                pipe.hset(key, "doc", orjson.dumps(endpoint))
                pipe.execute()
                return load(connection, endpoint_id)
            except WatchError:
                continue


def rotate(
    connection: Redis, settings: Settings, endpoint_id: str
) -> tuple[dict[str, Any], str] | None:
    """A new secret version; the previous one keeps signing for 24 h."""
    key = signing_key(settings)
    at = now_ms()

    def change(endpoint: dict[str, Any]) -> None:
        versions = [
            v
            for v in endpoint["secret_versions"]
            if v["expires_ms"] is None or v["expires_ms"] > at
        ]
        newest = max(v["version"] for v in endpoint["secret_versions"])
        for v in versions:
            if v["expires_ms"] is None:
                v["expires_ms"] = at + ROTATION_OVERLAP_MS
        endpoint["secret_versions"] = [*versions, {"version": newest + 1, "expires_ms": None}]

    endpoint = update(connection, endpoint_id, change)
    if endpoint is None:
        return None
    return endpoint, derive_secret(key, endpoint_id, signing_versions(endpoint, at)[0])


def set_disabled(connection: Redis, endpoint_id: str, reason: str | None) -> dict[str, Any] | None:
    """Disable (``reason`` given) or enable (None) an endpoint."""

    def change(endpoint: dict[str, Any]) -> None:
        endpoint.update(
            disabled=reason is not None,
            disabled_reason=reason,
            disabled_ms=now_ms() if reason else None,
            failing_since_ms=None,
        )

    return update(connection, endpoint_id, change)


def delete(connection: Redis, endpoint_id: str) -> bool:
    with connection.pipeline() as pipe:
        pipe.srem(keys.NOTIFY_ENDPOINTS, endpoint_id)
        pipe.delete(
            keys.notify_endpoint(endpoint_id),
            keys.notify_due(endpoint_id),
            keys.notify_inflight(endpoint_id),
            keys.notify_log(endpoint_id),
        )
        removed, _ = pipe.execute()
    # Delivery records expire on their own (NOTIFY_RETENTION_DAYS).
    return bool(removed)
