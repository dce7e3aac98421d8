"""Who retries what: one owner per failure class, with Agora's documented schedules."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from workers.agora.answers import FAILOVER_SCHEDULE_S, START_SCHEDULE_S, AgoraError, Retry

T = TypeVar("T")
BACKOFF_BASE_S, BACKOFF_CAP_S = 1.0, 8.0


def _in_call_retry(exc: BaseException, allowed: frozenset[Retry]) -> bool:
    return isinstance(exc, AgoraError) and exc.verdict.retry in allowed


def _wait(scale: float) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        attempt = state.attempt_number  # 1 after the first failure
        if isinstance(exc, AgoraError) and exc.verdict.retry is Retry.START_SCHEDULE:
            return START_SCHEDULE_S[min(attempt, len(START_SCHEDULE_S)) - 1] * scale
        if isinstance(exc, AgoraError) and exc.verdict.retry is Retry.FAILOVER_SCHEDULE:
            return FAILOVER_SCHEDULE_S[min(attempt, len(FAILOVER_SCHEDULE_S)) - 1] * scale
        ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
        return random.uniform(0, ceiling) * scale  # full jitter

    return wait


def call(fn: Callable[[], T], *, scale: float, retry_on: frozenset[Retry], attempts: int = 4) -> T:
    """Run ``fn``, retrying the failure classes in ``retry_on`` (3 retries by default)."""
    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=_wait(scale),
        retry=retry_if_exception(lambda e: _in_call_retry(e, retry_on)),
        reraise=True,
    )
    return retrying(fn)


TRANSIENT = frozenset({Retry.BACKOFF})
START_TRANSIENT = frozenset({Retry.BACKOFF, Retry.START_SCHEDULE})
