"""Who retries what, as data: (step, Agora's verdict) -> the next action.

Every control job consults this one table. A failed Agora call is either retried inside the
call (on the row's in-call schedule, while attempts and the job's budget last), or the table
names what happens once in-call retries are over: the job reschedules itself, restarts the
recording with a new uid and resource, fails it, or accepts the answer as success. Nothing
here raises into RQ's retry: that is kept for failures outside Agora (Redis down).
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

from workers.agora.answers import FAILOVER_SCHEDULE_S, START_SCHEDULE_S, Meaning


class Step(enum.Enum):
    ACQUIRE = "acquire"
    START = "start"
    QUERY = "query"
    STOP = "stop"


class Next(enum.Enum):
    RETRY_IN_CALL = "retry_in_call"
    RESCHEDULE = "reschedule"  # the job schedules its own successor
    FAILOVER_WAIT = "failover_wait"  # reschedule on Agora's 5/10/15 s failover schedule
    RESTART = "restart"  # a new recorder uid, acquire and start
    FAIL = "fail"
    ACCEPT = "accept"  # as good as success: 201/7 with a sid, 435 or 49 on stop


class InCall(enum.Enum):
    NONE = "none"
    BACKOFF = "backoff"  # Agora's 1, 3, 6 s (same domain, then the backup), +-20 % jitter
    START_SCHEDULE = "start_schedule"  # Agora's 3, 6, 9 s for a start that timed out


@dataclass(frozen=True)
class Rule:
    in_call: InCall
    then: Next  # once in-call retries are over (or none apply)


IN_CALL_ATTEMPTS = 4  # first try and three retries
BACKOFF_S = (1.0, 3.0, 6.0)  # agora-reference 4.1: retry the domain, then switch
BACKOFF_JITTER = 0.2  # so retries of many recordings do not land in the same second

_TRANSIENT = (Meaning.NETWORK, Meaning.SERVER, Meaning.RATE_LIMITED, Meaning.OVERLOADED)


def _rows() -> dict[tuple[Step, Meaning], Rule]:
    rows: dict[tuple[Step, Meaning], Rule] = {}
    # Anything a step does not list: a new resource for start's calls, a later try for
    # query and stop (the session may still run; giving up would leave it untracked).
    default = {
        Step.ACQUIRE: Next.RESTART,
        Step.START: Next.RESTART,
        Step.QUERY: Next.RESCHEDULE,
        Step.STOP: Next.RESCHEDULE,
    }
    for step, then in default.items():
        for meaning in Meaning:
            rows[step, meaning] = Rule(InCall.NONE, then)
        for meaning in _TRANSIENT:
            rows[step, meaning] = Rule(InCall.BACKOFF, then)
    rows[Step.ACQUIRE, Meaning.CONFIGURATION] = Rule(InCall.NONE, Next.FAIL)
    rows[Step.START, Meaning.CONFIGURATION] = Rule(InCall.NONE, Next.FAIL)
    rows[Step.START, Meaning.NOT_COMPLETED] = Rule(InCall.START_SCHEDULE, Next.RESTART)
    rows[Step.START, Meaning.ALREADY_STARTED] = Rule(InCall.NONE, Next.ACCEPT)
    rows[Step.QUERY, Meaning.NOT_FOUND] = Rule(InCall.NONE, Next.FAILOVER_WAIT)
    rows[Step.STOP, Meaning.NOT_FOUND] = Rule(InCall.NONE, Next.FAILOVER_WAIT)
    rows[Step.STOP, Meaning.CONFIGURATION] = Rule(InCall.NONE, Next.FAIL)
    rows[Step.STOP, Meaning.NOTHING_RECORDED] = Rule(InCall.NONE, Next.ACCEPT)
    rows[Step.STOP, Meaning.ALREADY_STOPPING] = Rule(InCall.NONE, Next.ACCEPT)
    # The task is on its way out (501), or stopped with its upload still going (50): what
    # that means for the recording is the liveness table's (workers.agora.liveness).
    rows[Step.STOP, Meaning.EXITING] = Rule(InCall.NONE, Next.ACCEPT)
    rows[Step.STOP, Meaning.UPLOAD_TIMEOUT] = Rule(InCall.NONE, Next.ACCEPT)
    return rows


TABLE = _rows()


def rule(step: Step, meaning: Meaning) -> Rule:
    return TABLE[step, meaning]


def next_action(step: Step, meaning: Meaning, attempt: int) -> Next:
    """What to do after attempt number ``attempt`` (1 = the first) failed with ``meaning``."""
    row = TABLE[step, meaning]
    if row.in_call is not InCall.NONE and attempt < IN_CALL_ATTEMPTS:
        return Next.RETRY_IN_CALL
    return row.then


def in_call_wait_s(step: Step, meaning: Meaning, attempt: int, scale: float) -> float:
    """The pause before attempt ``attempt + 1``."""
    row = TABLE[step, meaning]
    if row.in_call is InCall.START_SCHEDULE:
        return START_SCHEDULE_S[min(attempt, len(START_SCHEDULE_S)) - 1] * scale
    base = BACKOFF_S[min(attempt, len(BACKOFF_S)) - 1]
    return base * random.uniform(1 - BACKOFF_JITTER, 1 + BACKOFF_JITTER) * scale


def max_in_call_wait_s(step: Step, meaning: Meaning, attempt: int) -> float:
    row = TABLE[step, meaning]
    if row.in_call is InCall.START_SCHEDULE:
        return START_SCHEDULE_S[min(attempt, len(START_SCHEDULE_S)) - 1]
    return BACKOFF_S[min(attempt, len(BACKOFF_S)) - 1] * (1 + BACKOFF_JITTER)


def failover_delay_s(tries: int) -> float | None:
    """Agora: re-ask 5, 10, 15 s after a 404 that may be a failover; None once that is over."""
    if tries <= len(FAILOVER_SCHEDULE_S):
        return FAILOVER_SCHEDULE_S[tries - 1]
    return None
