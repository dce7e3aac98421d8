"""Per-process context of a worker: its settings, read once from the environment."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
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


@contextlib.contextmanager
def stop_signals_blocked() -> Iterator[None]:
    """Start threads inside this block: they inherit a mask without SIGTERM and SIGINT, so
    the kernel delivers those to the main thread. Delivered to another thread, the signal
    would leave the main thread blocked in a socket read (an idle worker's BLPOP) for
    minutes before Python runs the handler."""
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def stop_requested() -> bool:
    return _stopping.is_set()


def stopping_event() -> threading.Event:
    """Set once a stop is asked for (threads of the process wait on it)."""
    return _stopping


def wait_for_stop(timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for a stop request; True if one came. Sleeps in short
    slices so a signal handler setting the flag is seen at once."""
    deadline = time.monotonic() + timeout_s
    while not _stopping.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(0.1, left))
    return True


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
