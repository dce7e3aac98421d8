"""One control job's Agora calls: in-call retries by the policy table, inside a time budget.

A job's budget bounds everything it waits for (the recording lock, the shared rate limit,
HTTP answers, in-call retry pauses): an attempt starts only when its worst case still fits.
So the worst-case time of a job's in-job retries stays below the job timeout, and the
job's lease heartbeat keeps its recording lock alive meanwhile (tests/test_control_policy.py
checks both).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from config.settings import Settings
from workers.agora.answers import AgoraError
from workers.agora.client import STOP_TIMEOUT_S
from workers.control.leases import LEASE_S, check_fenced
from workers.control.policy import Next, Step, in_call_wait_s, next_action
from workers.ratelimit import RATE_WAIT_MAX_S, WINDOW_US

T = TypeVar("T")

CONTROL_BUDGET_S = 150.0  # below the control jobs' timeout, with room for Redis
# A recording lock lives as long as its holder's lease: the lease's heartbeat extends it, so
# the lock of a worker that died frees within seconds, not after a job timeout.
LOCK_TTL_S = LEASE_S


class BudgetSpent(Exception):
    """The job's time budget cannot hold another attempt."""


class Budget:
    def __init__(
        self,
        total_s: float = CONTROL_BUDGET_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.total_s = total_s
        self._clock = clock
        self._sleep = sleep
        self._started = clock()

    def elapsed_s(self) -> float:
        return self._clock() - self._started

    def remaining_s(self) -> float:
        return max(0.0, self.total_s - self.elapsed_s())

    def fits(self, seconds: float) -> bool:
        return self.elapsed_s() + seconds <= self.total_s

    def begin(self, worst_s: float) -> None:
        if not self.fits(worst_s):
            raise BudgetSpent(f"{self.elapsed_s():.1f} of {self.total_s} s spent")

    def pause(self, seconds: float) -> None:
        self._sleep(seconds)


def worst_call_s(step: Step, settings: Settings) -> float:
    """The longest one attempt can take: the shared rate limit's wait, then the answer."""
    answer_s = STOP_TIMEOUT_S if step is Step.STOP else settings.agora_http_timeout_s
    return RATE_WAIT_MAX_S + WINDOW_US / 1_000_000 + answer_s


def call(step: Step, fn: Callable[[], T], budget: Budget, settings: Settings) -> T:
    """Run one Agora call, retrying inside it as the table says while the budget allows.

    Raises the last ``AgoraError`` when the table's in-call retries are over (the caller
    does what ``policy.rule(step, meaning).then`` says), ``BudgetSpent`` when not even
    the first attempt fits.
    """
    worst = worst_call_s(step, settings)
    budget.begin(worst)
    attempt = 1
    while True:
        check_fenced()  # a job whose lease went to a successor calls Agora no more
        try:
            return fn()
        except AgoraError as exc:
            meaning = exc.verdict.meaning
            if next_action(step, meaning, attempt) is not Next.RETRY_IN_CALL:
                raise
            wait = in_call_wait_s(step, meaning, attempt, settings.agora_retry_scale)
            if not budget.fits(wait + worst):
                raise
            budget.pause(wait)
            attempt += 1
