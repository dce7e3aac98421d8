"""Redis faults every long-running process survives: named once, backed off alike.

A process that meets one logs ``<process>.redis_fault`` with ``fault`` set to one of the
names below, waits (with jitter, longer each time), and tries again; it never exits for it.
"""

from __future__ import annotations

import random

from redis import RedisError
from redis.exceptions import (
    AuthenticationError,
    BusyLoadingError,
    ExecAbortError,
    MasterDownError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Most specific first: BusyLoadingError and AuthenticationError are ConnectionErrors.
_FAULTS: tuple[tuple[type[RedisError], str], ...] = (
    (BusyLoadingError, "loading"),  # a restarted Redis reading its AOF / RDB
    (AuthenticationError, "auth"),  # wrong ACL user or password: an operator must act
    (OutOfMemoryError, "oom"),  # maxmemory reached under noeviction
    (ReadOnlyError, "readonly"),  # a replica, or a demoted primary after a failover
    (MasterDownError, "masterdown"),  # a replica that lost its primary
    (NoScriptError, "noscript"),  # a restarted or failed-over Redis forgot our scripts
    (ExecAbortError, "execabort"),  # a MULTI refused as a whole (often OOM inside it)
    (RedisTimeoutError, "timeout"),
    (RedisConnectionError, "connection"),  # includes "no primary known" under Sentinel
)

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 10.0


def redis_fault(exc: BaseException) -> str:
    """The stable name of a Redis fault (``error`` for any other Redis error)."""
    for kind, name in _FAULTS:
        if isinstance(exc, kind):
            return name
    return "error"


def backoff_s(failures: int, rng: random.Random | None = None) -> float:
    """How long to wait after ``failures`` faults in a row: doubling, capped, jittered so
    a fleet of processes does not hammer a Redis that is coming back all at once."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * float(2 ** min(failures, 16)) / 2)
    jitter: float = (rng or random).random()
    return ceiling / 2 + jitter * ceiling / 2
