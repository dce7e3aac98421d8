"""The Redis client every process builds from its settings."""

from __future__ import annotations

from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from config.settings import Settings


def connect(settings: Settings) -> Redis:
    """A client that fails fast: NCS gives us 10 s, and a 503 makes it resend."""
    return Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=1.0,
        socket_timeout=3.0,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=2),
    )
