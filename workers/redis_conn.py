"""The Redis client every process builds from its settings: web, worker, clock, CLI, bench.

``REDIS_URL`` names one Redis (``redis://``, ``rediss://`` for TLS, ``user:password@`` for an
ACL user) or a Redis Sentinel service (``redis+sentinel://``). Under Sentinel the client asks
the sentinels for the primary on every new connection, and redis-py drops a connection whose
server answers READONLY (a demoted primary), so a failover is followed without a restart.
"""

from __future__ import annotations

from typing import Any

from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from config.redis_url import DirectTarget, describe_redis_url, parse_redis_url
from config.settings import Settings

SENTINEL_TIMEOUT_S = 0.5  # a sentinel that does not answer this fast is skipped for the next


def connect(settings: Settings, *, socket_timeout: float | None = 3.0) -> Redis:
    """A client that fails fast: NCS gives us 10 s, and a 503 makes it resend.

    The worker passes ``socket_timeout=None``: RQ then sets one to fit its blocking dequeue.
    """
    return connect_url(settings.redis_url, socket_timeout=socket_timeout)


def connect_url(url: str, *, socket_timeout: float | None = 3.0) -> Redis:
    options: dict[str, Any] = {
        "socket_connect_timeout": 1.0,
        "socket_timeout": socket_timeout,
        "health_check_interval": 30,
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=2),
    }
    target = parse_redis_url(url)
    if isinstance(target, DirectTarget):
        return Redis.from_url(target.url, **options)
    tls = {"ssl": True} if target.ssl else {}
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(target.sentinels),
        sentinel_kwargs={
            "socket_timeout": SENTINEL_TIMEOUT_S,
            "socket_connect_timeout": SENTINEL_TIMEOUT_S,
            **tls,
        },
    )
    client: Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        target.service_name,
        redis_class=Redis,
        db=target.db,
        username=target.username,
        password=target.password,
        **tls,
        **options,
    )
    return client


def describe(settings: Settings) -> str:
    """Where this process's Redis is, fit for a log line or a page: never the password."""
    return describe_redis_url(settings.redis_url)
