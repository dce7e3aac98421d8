"""Polling: ask ``query`` how an active session is doing, fold the answer in, act, and
schedule the next poll. A poll owns its retry: whatever Agora answered, it schedules exactly
one successor (or none, once the recording is no longer active) and never raises into RQ.
"""

from __future__ import annotations

import contextlib
from typing import Any

from redis import Redis

from config.settings import Settings
from workers import jobs, recordings, runtime, sessions
from workers.agora import liveness
from workers.agora.answers import AgoraError
from workers.control import tasks
from workers.control.acting import act, not_found
from workers.control.calls import Budget, BudgetSpent, call
from workers.control.context import log_recording
from workers.control.policy import Next, Step, rule
from workers.control.scheduling import is_current_poll, poll_delay_s, poll_plan, schedule_poll
from workers.control.starting import rollover
from workers.files import from_answer
from workers.metrics import POLLS
from workers.queues import job_policy
from workers.recordings import ACTIVE, now_ms


def poll(
    connection: Redis,
    settings: Settings,
    recording_id: str,
    sid: str,
    job_ids: frozenset[str] | None = None,
) -> None:
    """``job_ids``: this job's id and the first of the line it resumes (None: no check)."""
    recording = recordings.load(connection, recording_id)
    if recording is None or recording["sid"] != sid or recording["state"] != ACTIVE:
        return
    if job_ids is not None and not is_current_poll(recording, job_ids):
        POLLS.labels("superseded").inc()
        return  # another poll job is this recording's current one
    if _due_for_rollover(settings, recording):
        with contextlib.suppress(BudgetSpent):  # the next poll tries again
            rollover(connection, settings, recording_id, Budget())
        recording = recordings.load(connection, recording_id) or recording
        if recording["sid"] != sid:
            return  # the new task has its own polls
    seen = sessions.load(connection, sid)
    ask, later_s = poll_plan(settings, recording, seen, now_ms())
    if not ask and _must_ask(recording, seen):
        ask = True  # a fatal error or silence: Agora says query, fresh callbacks or not
    if not ask:  # its callbacks say it records: look again when they would be overdue
        POLLS.labels("callbacks_fresh").inc()
        schedule_poll(connection, settings, recording, later_s)
        return
    POLLS.labels("queried").inc()
    budget = Budget()
    client = runtime.agora_client(connection)
    resource_id = recording["resource_id"]
    try:
        answer = call(Step.QUERY, lambda: client.query(resource_id, sid), budget, settings)
    except BudgetSpent:
        schedule_poll(connection, settings, recording, poll_delay_s(settings, recording))
        return
    except AgoraError as exc:
        then = rule(Step.QUERY, exc.verdict.meaning).then
        log_recording("recording.poll_failed", recording, error=str(exc), then=then.value)
        if then is Next.FAILOVER_WAIT:
            try:
                not_found(connection, settings, recording, budget)
            except BudgetSpent:
                jobs.enqueue(connection, job_policy(settings), jobs.RUN_START, recording_id)
        else:  # Next.RESCHEDULE: the next poll is the retry
            schedule_poll(connection, settings, recording, poll_delay_s(settings, recording))
        return
    tasks.answered(connection, recording_id, sid)
    response = answer.get("serverResponse") or {}
    files = from_answer(response)
    status = response.get("status")
    session = None
    if isinstance(status, int):
        session = sessions.observe_query(
            connection,
            sid,
            cname=recording["cname"],
            recorder_uid=recording["recorder_uid"],
            status=status,
            files=files,
            retention_s=settings.session_retention_s,
        )
    recording = recordings.load(connection, recording_id) or recording
    try:
        act(connection, settings, recording, session, budget)
    except BudgetSpent:
        # A restart ran out of this poll's budget: the start job (RQ retries it) goes on.
        jobs.enqueue(connection, job_policy(settings), jobs.RUN_START, recording_id)
        return
    recording = recordings.load(connection, recording_id) or recording
    if recording["state"] == ACTIVE and recording["sid"] == sid:
        schedule_poll(connection, settings, recording, poll_delay_s(settings, recording))


def _must_ask(recording: dict[str, Any], session: dict[str, Any] | None) -> bool:
    seen = liveness.evidence(
        session, now_ms=recordings.now_ms(), max_idle_time=recording["max_idle_time"]
    )
    return liveness.judge(seen).liveness is liveness.Liveness.UNKNOWN


def _due_for_rollover(settings: Settings, recording: dict[str, Any]) -> bool:
    started = recording.get("session_started_ms")
    return (
        bool(recording["confirmed"])
        and started is not None
        and recordings.now_ms() - started > settings.rollover_after_s * 1000
    )


def reconcile(connection: Redis, settings: Settings, recording_id: str, sid: str) -> None:
    """Act on what a session's callbacks changed (enqueued by the drain). Any session of
    the recording carries its upload state over, finished recordings included."""
    recording = recordings.load(connection, recording_id)
    if recording is None:
        return
    session = sessions.load(connection, sid)
    if sid in recording["sids"]:
        recording = tasks.follow_session(connection, recording_id, sid, session) or recording
    if recording["sid"] != sid:
        return
    try:
        act(connection, settings, recording, session, Budget())
    except BudgetSpent:
        jobs.enqueue(connection, job_policy(settings), jobs.RUN_START, recording_id)
