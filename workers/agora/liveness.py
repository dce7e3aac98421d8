"""The one rule for "is this Agora task still alive?", as a table with its sources.

Restart, stop and session settling all ask ``judge``; none decides on a 404 or a lost
callback by itself. The facts (sections of Agora's documentation as summarised in the
README's "Recording control"):

- A failed-over task comes back on a new server within 90 s (event 12); a disconnection can
  take a minute before the switch. Meanwhile ``query``, ``update`` and ``stop`` answer 404.
  So a 404 proves the task gone only when nothing says it is failing over and it has
  lasted ``FAILOVER_WINDOW_S`` (60 + 90 s), or when the recorder already left (41) or its
  upload finished (31/32): a task that left the channel does not fail over.
- ``session_exit`` (11) ends the task (exitStatus 0 normal, 1 abnormal); ``query`` status 8
  is "exited", 20 "exited abnormally"; 6 and 7 are "stopping".
- ``stop``: 200 stopped; 206/435 stopped with nothing recorded; 400/49 a stop or
  ``maxIdleTime`` is already ending it; 400/501 the service is exiting; 50 the upload
  outlasted the 20 s a synchronous stop waits (stopped, files still on their way).
- ``start`` 201/7 "already started": the task runs (a retried start whose first attempt
  went through).
- An error of level 5 "may cause the recording to exit ... call query".
- A running task reports upload progress (33) every minute; a task silent for longer than
  ``maxIdleTime`` plus ``SILENCE_MARGIN_S`` is asked.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class Liveness(enum.Enum):
    ALIVE = "alive"  # recording, or nothing says otherwise
    FAILING_OVER = "failing_over"  # alive, on its way to a new server: wait, ask again
    EXITING = "exiting"  # ending by itself or by a stop: no stop needed, no restart yet
    DEAD = "dead"  # gone: a restart may follow, a stop is done
    UNKNOWN = "unknown"  # ask ``query`` now


FAILOVER_WINDOW_S = 60 + 90  # a disconnection's minute before the switch, then the 90 s move
SILENCE_MARGIN_S = 180  # three missed progress events (33 comes every minute)


@dataclass(frozen=True)
class Evidence:
    """What is known about one task, from its callbacks and the last REST answer."""

    ended: str | None = None  # the session is already final: its end reason
    ended_abnormally: bool = False  # ... and it failed
    answer: str | None = None  # see ANSWERS
    status: int | None = None  # query's serverResponse.status, when it is the answer
    exit_status: int | None = None  # 11's exitStatus, when 11 arrived
    left: tuple[str, ...] = ()  # 41's decoded leaveCode, when 41 arrived
    uploaded: bool = False  # 31 or 32 arrived (or a stop answer said so)
    failing_over: bool = False  # 12 arrived and no 40 from the new server yet
    fatal: bool = False  # an error of level 5 after the last REST answer
    not_found_s: float | None = None  # seconds since the first of the current 404s
    silent_s: float | None = None  # seconds since the last sign of life
    max_idle_time: int = 30


# The REST answers the table knows, by the name control gives them.
ANSWERS = frozenset(
    {
        "started",  # start 200 with a sid
        "already_started",  # start 201 / 7
        "query",  # query 200: see ``status``
        "not_found",  # query / stop / update 404 / 404
        "stopped",  # stop 200
        "nothing_recorded",  # stop 206 / 435
        "already_stopping",  # stop 400 / 49
        "exiting",  # 400 / 501
        "upload_timeout",  # stop 50
    }
)


@dataclass(frozen=True)
class Rule:
    name: str
    applies: Callable[[Evidence], bool]
    liveness: Liveness
    reason: str  # "{left}" is the recorder's decoded leaveCode
    source: str
    restart: bool = False  # for a recording still wanted: restart (True) or end it


def _left(e: Evidence) -> bool:
    return bool(e.left)


def _gone_404(e: Evidence) -> bool:
    return e.answer == "not_found"


def _past_window(e: Evidence) -> bool:
    return e.answer == "not_found" and (e.not_found_s or 0) >= FAILOVER_WINDOW_S


def silent(e: Evidence) -> bool:
    return e.silent_s is not None and e.silent_s > e.max_idle_time + SILENCE_MARGIN_S


# First matching row wins. Ordered from the strongest evidence to the weakest.
RULES: tuple[Rule, ...] = (
    Rule(
        "session_ended_abnormally",
        lambda e: e.ended is not None and e.ended_abnormally,
        Liveness.DEAD,
        "{ended}",
        "a session already final by 11, query or an earlier judgement: failed",
        restart=True,
    ),
    Rule(
        "session_ended",
        lambda e: e.ended is not None,
        Liveness.DEAD,
        "{ended}",
        "a session already final by 11, query or an earlier judgement",
    ),
    Rule(
        "session_exit_normal",
        lambda e: e.exit_status == 0,
        Liveness.DEAD,
        "exited",
        "§2.3 event 11: the service ended its tasks and exited (exitStatus 0)",
    ),
    Rule(
        "session_exit_abnormal",
        lambda e: e.exit_status is not None and e.exit_status != 0,
        Liveness.DEAD,
        "exited_abnormally",
        "§2.3 event 11: exitStatus 1, abnormal exit",
        restart=True,
    ),
    Rule(
        "query_exited_abnormally",
        lambda e: e.answer == "query" and e.status == 20,
        Liveness.DEAD,
        "exited_abnormally",
        "§2.3 status table: 20 exited abnormally",
        restart=True,
    ),
    Rule(
        "query_exited",
        lambda e: e.answer == "query" and e.status == 8,
        Liveness.DEAD,
        "exited",
        "§2.3 status table: 8 exited",
    ),
    Rule(
        "stop_ok",
        lambda e: e.answer == "stopped",
        Liveness.DEAD,
        "stopped",
        "§4.8 stop 200: left the channel, upload finished or under way",
    ),
    Rule(
        "stop_nothing_recorded",
        lambda e: e.answer == "nothing_recorded",
        Liveness.DEAD,
        "nothing_recorded",
        "§4.9 206/435: stopped, nobody published",
    ),
    Rule(
        "not_found_after_leave",
        lambda e: _gone_404(e) and _left(e),
        Liveness.DEAD,
        "{left}",
        "§2.3 event 41: the recorder left the channel; §4.9 404: the task does not exist",
    ),
    Rule(
        "not_found_after_upload",
        lambda e: _gone_404(e) and e.uploaded and not e.failing_over,
        Liveness.DEAD,
        "uploaded",
        "§2.3 events 31/32: all files uploaded, which follows the end; §4.9 404",
    ),
    Rule(
        "not_found_past_failover_window",
        _past_window,
        Liveness.DEAD,
        "ended_unobserved",
        "§4.9 404 + §2.3 event 12: a failover ends within 60 + 90 s; still 404 after it",
        restart=True,
    ),
    Rule(
        "not_found_within_failover_window",
        _gone_404,
        Liveness.FAILING_OVER,
        "not_found_within_failover_window",
        "§4.9 404: during recovery query/update/stop answer 404 (switch after 1 min, 90 s)",
    ),
    Rule(
        "stop_already_stopping",
        lambda e: e.answer == "already_stopping",
        Liveness.EXITING,
        "already_stopping",
        "§4.9 400/49: a stop, a kick or maxIdleTime is already ending the task",
    ),
    Rule(
        "exiting",
        lambda e: e.answer == "exiting",
        Liveness.EXITING,
        "exiting",
        "§4.9 code 501: the recording service is exiting",
    ),
    Rule(
        "stop_upload_timeout",
        lambda e: e.answer == "upload_timeout",
        Liveness.EXITING,
        "stopped_upload_pending",
        "§4.8 stop: upload longer than 20 s answers code 50; files follow (31/32)",
    ),
    Rule(
        "query_stopping",
        lambda e: e.answer == "query" and e.status in (6, 7),
        Liveness.EXITING,
        "stopping",
        "§2.3 status table: 6 stop requested, 7 all components stopped",
    ),
    Rule(
        "recorder_left",
        _left,
        Liveness.EXITING,
        "{left}",
        "§2.3 event 41: the recorder left the channel (leaveCode bits)",
    ),
    Rule(
        "failover_reported",
        lambda e: e.failing_over,
        Liveness.FAILING_OVER,
        "failover",
        "§2.3 event 12: moving to a new server within 90 s, new uid",
    ),
    Rule(
        "fatal_error",
        lambda e: e.fatal,
        Liveness.UNKNOWN,
        "fatal_error",
        "§2.3 event 1: errorLevel 5 may make the recording exit: call query",
    ),
    Rule(
        "query_running",
        lambda e: e.answer == "query" and e.status is not None and 0 <= e.status <= 5,
        Liveness.ALIVE,
        "running",
        "§2.3 status table: 0-5 starting or in progress",
    ),
    Rule(
        "started",
        lambda e: e.answer in ("started", "already_started"),
        Liveness.ALIVE,
        "started",
        "§4.4 start 200 with a sid; §4.9 201/7: already started, the task is running",
    ),
    Rule(
        "silent",
        silent,
        Liveness.UNKNOWN,
        "silent",
        "§2.3 event 33 every minute: silence past maxIdleTime + margin is asked about",
    ),
    Rule(
        "no_sign_of_an_end",
        lambda e: True,
        Liveness.ALIVE,
        "no_sign_of_an_end",
        "nothing above: a task Agora started runs until something ends it",
    ),
)


@dataclass(frozen=True)
class Judgement:
    liveness: Liveness
    reason: str
    rule: str
    restart: bool = False
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def gone(self) -> bool:
        """The task is no more, or ends by itself: a stop is done, nothing to stop."""
        return self.liveness in (Liveness.DEAD, Liveness.EXITING)


def judge(evidence: Evidence) -> Judgement:
    if evidence.answer is not None and evidence.answer not in ANSWERS:
        raise ValueError(f"unknown answer {evidence.answer!r}")
    for rule in RULES:
        if rule.applies(evidence):
            reason = rule.reason.replace("{left}", ",".join(evidence.left))
            reason = reason.replace("{ended}", evidence.ended or "")
            return Judgement(rule.liveness, reason, rule.name, rule.restart)
    raise AssertionError("the last rule always applies")


def evidence(
    session: dict[str, Any] | None,
    *,
    answer: str | None = None,
    status: int | None = None,
    not_found_s: float | None = None,
    now_ms: int | None = None,
    max_idle_time: int = 30,
) -> Evidence:
    """The evidence a session (as callbacks and REST answers built it) gives, plus the
    answer just received."""
    if session is None:
        return Evidence(
            answer=answer, status=status, not_found_s=not_found_s, max_idle_time=max_idle_time
        )
    observed_ms = (session.get("observed") or {}).get("at_ms") or 0
    fatal = any(
        e.get("level") == 5 and (e.get("at_ms") or 0) > observed_ms
        for e in session.get("errors") or []
    )
    last_sign = max(session.get("updated_ms") or 0, observed_ms)
    silent_s = (now_ms - last_sign) / 1000 if now_ms is not None and last_sign else None
    final = session.get("state") in ("exited", "failed")
    if answer is None and session.get("service_status") in (6, 7, 8, 20):
        # What the last status (event 3 or a query) said, when it says the task is ending.
        answer, status = "query", session["service_status"]
    return Evidence(
        ended=(session.get("end_reason") or session["state"]) if final else None,
        ended_abnormally=session.get("state") == "failed",
        answer=answer,
        status=status,
        exit_status=session.get("exit_status"),
        left=tuple(session.get("leave_reasons") or ()),
        uploaded=session.get("upload_status") in ("uploaded", "backuped"),
        failing_over=session.get("state") == "failover",
        fatal=fatal,
        not_found_s=not_found_s,
        silent_s=silent_s,
        max_idle_time=max_idle_time,
    )
