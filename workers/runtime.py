"""Per-process context of a worker: its settings, read once from the environment."""

from __future__ import annotations

import threading
from functools import lru_cache

from redis import Redis

from config.settings import Settings, load_settings
from workers.agora.client import AgoraClient
from workers.ratelimit import SharedRateLimit

_clients: dict[int, AgoraClient] = {}
_stopping = threading.Event()


def request_stop() -> None:
    """The worker was asked to stop (SIGTERM): long jobs should wind up."""
    _stopping.set()


def stop_requested() -> bool:
    return _stopping.is_set()


@lru_cache(maxsize=1)
def settings() -> Settings:
    return load_settings()


def agora_client(connection: Redis) -> AgoraClient:
    """One REST client (one HTTP session) per process and Redis connection."""
    client = _clients.get(id(connection))
    if client is None:
        current = settings()
        limit = SharedRateLimit(
            connection, current.agora_app_id or "", current.agora_qps, current.agora_qps_reserved
        )
        client = AgoraClient(current, limit, timeout_s=current.agora_http_timeout_s)
        _clients[id(connection)] = client
    return client
