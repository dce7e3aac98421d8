"""The one table of Agora's answers (agora-reference §4.9): what each means, whether and how
to retry. Every REST failure becomes an ``AgoraError`` carrying its verdict.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class Meaning(enum.Enum):
    ALREADY_STARTED = "already_started"  # 201 / 7
    NOTHING_RECORDED = "nothing_recorded"  # 206 / 435 on stop
    NOT_COMPLETED = "not_completed"  # 206 / 65: reached the backend, timed out
    ALREADY_STOPPING = "already_stopping"  # 400 / 49
    RESOURCE_EXPIRED = "resource_expired"  # 433, 1001: acquire again
    EXITING = "exiting"  # 400 / 501: the recording service is exiting
    UPLOAD_TIMEOUT = "upload_timeout"  # 50 on stop: stopped, the upload outlasted 20 s
    TASK_CONFLICT = "task_conflict"  # 400 / 53: same cname + uid exists
    NOT_FOUND = "not_found"  # 404 / 404: gone, or failover in progress
    CONFIGURATION = "configuration"  # 401, 400 / 2, 432, 1003, invalid appid, no route
    RATE_LIMITED = "rate_limited"  # 429
    SERVER = "server"  # 5xx and transient codes
    NO_WORKER = "no_worker"  # 500 / 502: new acquire + start
    OVERLOADED = "overloaded"  # 400 / 406: concurrent task limit
    NETWORK = "network"  # no answer at all
    UNKNOWN = "unknown"


class Retry(enum.Enum):
    NEVER = "never"
    START_SCHEDULE = "start_schedule"  # Agora's 3, 6, 9 s for start
    FAILOVER_SCHEDULE = "failover_schedule"  # 5, 10, 15 s while a 404 may be a failover
    BACKOFF = "backoff"  # exponential with jitter
    NEW_RESOURCE = "new_resource"  # acquire again (and maybe a new uid), then start


START_SCHEDULE_S = (3.0, 6.0, 9.0)
FAILOVER_SCHEDULE_S = (5.0, 10.0, 15.0)


@dataclass(frozen=True)
class Verdict:
    meaning: Meaning
    retry: Retry

    @property
    def retryable(self) -> bool:
        return self.retry is not Retry.NEVER


class AgoraError(Exception):
    """A REST call that did not succeed, with what Agora said and what to do about it."""

    def __init__(
        self,
        endpoint: str,
        status: int | None,
        code: int | None,
        reason: str,
        verdict: Verdict,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            f"{endpoint}: HTTP {status} code {code}: {reason} ({verdict.meaning.value})"
        )
        self.body = body or {}
        self.endpoint = endpoint
        self.status = status
        self.code = code
        self.reason = reason
        self.verdict = verdict


_BY_STATUS_AND_CODE: dict[tuple[int, int | None], Verdict] = {
    (201, 7): Verdict(Meaning.ALREADY_STARTED, Retry.NEVER),
    (206, 435): Verdict(Meaning.NOTHING_RECORDED, Retry.NEVER),
    (206, 65): Verdict(Meaning.NOT_COMPLETED, Retry.START_SCHEDULE),
    (400, 2): Verdict(Meaning.CONFIGURATION, Retry.NEVER),
    (400, 400): Verdict(Meaning.CONFIGURATION, Retry.NEVER),
    (400, 401): Verdict(Meaning.CONFIGURATION, Retry.NEVER),
    (400, 405): Verdict(Meaning.CONFIGURATION, Retry.NEVER),
    (400, 406): Verdict(Meaning.OVERLOADED, Retry.BACKOFF),
    (400, 49): Verdict(Meaning.ALREADY_STOPPING, Retry.NEVER),
    (400, 53): Verdict(Meaning.TASK_CONFLICT, Retry.NEW_RESOURCE),
    # 432: a parameter is invalid or does not match the resource id; 1003: the sid does not
    # match it. Our request is wrong: a new resource would be refused the same way.
    (400, 432): Verdict(Meaning.CONFIGURATION, Retry.NEVER),
    (400, 433): Verdict(Meaning.RESOURCE_EXPIRED, Retry.NEW_RESOURCE),
    (400, 1001): Verdict(Meaning.RESOURCE_EXPIRED, Retry.NEW_RESOURCE),
    (400, 1003): Verdict(Meaning.CONFIGURATION, Retry.NEVER),
    (400, 501): Verdict(Meaning.EXITING, Retry.NEVER),
    (400, 50): Verdict(Meaning.UPLOAD_TIMEOUT, Retry.NEVER),
    (400, 109): Verdict(Meaning.CONFIGURATION, Retry.NEVER),
    (400, 110): Verdict(Meaning.CONFIGURATION, Retry.NEVER),
    (404, 404): Verdict(Meaning.NOT_FOUND, Retry.FAILOVER_SCHEDULE),
    (500, 502): Verdict(Meaning.NO_WORKER, Retry.NEW_RESOURCE),
}
_BY_STATUS: dict[int, Verdict] = {
    401: Verdict(Meaning.CONFIGURATION, Retry.NEVER),
    403: Verdict(Meaning.CONFIGURATION, Retry.NEVER),
    429: Verdict(Meaning.RATE_LIMITED, Retry.BACKOFF),
    206: Verdict(Meaning.NOT_COMPLETED, Retry.START_SCHEDULE),
}
# Codes that mean "resource id unusable" whatever the HTTP status they come with.
_RESOURCE_CODES = frozenset({433, 1001})
_PARAMETER_CODES = frozenset({432, 1003})


def judge(status: int | None, body: Any) -> Verdict:
    """What an answer means. ``status`` None is a network failure (no answer)."""
    if status is None:
        return Verdict(Meaning.NETWORK, Retry.BACKOFF)
    code = body.get("code") if isinstance(body, dict) else None
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    known = _BY_STATUS_AND_CODE.get((status, code))
    if known is not None:
        return known
    if code in _RESOURCE_CODES:
        return Verdict(Meaning.RESOURCE_EXPIRED, Retry.NEW_RESOURCE)
    if code in _PARAMETER_CODES:
        return Verdict(Meaning.CONFIGURATION, Retry.NEVER)
    if code == 50:  # a synchronous stop whose upload outlasted 20 s, whatever the status
        return Verdict(Meaning.UPLOAD_TIMEOUT, Retry.NEVER)
    if status == 404:
        # A gateway 404 ({"message": "no Route matched ..."}) is a wrong URL: a bug.
        if code is None:
            return Verdict(Meaning.CONFIGURATION, Retry.NEVER)
        return Verdict(Meaning.NOT_FOUND, Retry.FAILOVER_SCHEDULE)
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return Verdict(Meaning.SERVER, Retry.BACKOFF)
    if status == 400:  # invalid parameters or app id: fixing the request is the only cure
        return Verdict(Meaning.CONFIGURATION, Retry.NEVER)
    return Verdict(Meaning.UNKNOWN, Retry.NEVER)
