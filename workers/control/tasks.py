"""One Agora task (a sid) of a recording: judging a 404, stopping it, and retiring the tasks
a recording no longer wants, all by the one liveness rule (``workers.agora.liveness``).

A recording keeps every task it ran in ``tasks`` (sid -> resource id and recorder uid). A
task that is not the recording's current one (restarted away from, replaced, or the
recording ended) is *retired*: stopped if it still runs, and its session settled with the
documented reason once Agora no longer knows it, so no session is left ``recording``.
"""

from __future__ import annotations

from typing import Any

from redis import Redis
from rq import get_current_job

from config.settings import Settings
from workers import jobs, keys, recordings, runtime, sessions
from workers.agora.answers import AgoraError, Meaning
from workers.agora.liveness import Judgement, Liveness, evidence, judge, silent
from workers.control.calls import Budget, BudgetSpent, call
from workers.control.context import log_recording
from workers.control.policy import Next, Step, rule
from workers.files import from_answer
from workers.queues import job_policy
from workers.transitions import FAILED

STATUS_EXITED = 8  # a successful synchronous stop: the recorder left and uploaded
RETIRE_EVERY_S = 15.0  # between tries to end a retired task (scaled like Agora's waits)
RETIRE_TRIES = 40  # 40 x 15 s: well past the failover window and a slow upload
# A stop refused with these says something about the task (liveness answers).
STOP_ANSWERS = {
    Meaning.NOTHING_RECORDED: "nothing_recorded",
    Meaning.ALREADY_STOPPING: "already_stopping",
    Meaning.EXITING: "exiting",
    Meaning.UPLOAD_TIMEOUT: "upload_timeout",
}


class StopRefused(Exception):
    """Agora refused the stop for good (a request error): the task may still run."""


def task_of(recording: dict[str, Any], sid: str) -> dict[str, str]:
    task = (recording.get("tasks") or {}).get(sid)
    if task is not None:
        return dict(task)
    # Recordings started before tasks were kept: the parallel lists, or the current task.
    if sid in recording["sids"] and len(recording["resource_ids"]) == len(recording["sids"]):
        index = recording["sids"].index(sid)
        return {
            "resource_id": recording["resource_ids"][index],
            "uid": recording["recorder_uids"][index],
        }
    return {"resource_id": recording["resource_id"], "uid": recording["recorder_uid"]}


def failover_delay_s(settings: Settings, tries: int) -> float:
    """Re-ask 5, 10, then every 15 s while a 404 may be a failover (Agora's schedule)."""
    return min(5.0 * tries, 15.0) * settings.agora_retry_scale


def settle_if_dead(
    connection: Redis, settings: Settings, sid: str, verdict: Judgement
) -> dict[str, Any] | None:
    if verdict.liveness is not Liveness.DEAD:
        return None
    state = FAILED if verdict.reason == "exited_abnormally" else "exited"
    return sessions.settle(
        connection,
        sid,
        state=state,
        reason=verdict.reason,
        retention_s=settings.session_retention_s,
    )


def judge_not_found(
    connection: Redis, settings: Settings, recording: dict[str, Any], sid: str
) -> tuple[Judgement, dict[str, Any]]:
    """A 404 for ``sid``: failing over, or gone (then its session is settled)."""
    now = recordings.now_ms()

    def note(r: dict[str, Any]) -> None:
        since = r.setdefault("not_found_since", {})
        since.setdefault(sid, now)
        r["failover_404s"] = r.get("failover_404s", 0) + 1
        if r.get("sid") == sid:
            r["not_found"] = r.get("not_found", 0) + 1

    recording = recordings.update(connection, recording["id"], note)
    # Agora's windows are in real seconds; tests and demos shrink them like every wait.
    elapsed_s = (now - recording["not_found_since"][sid]) / 1000 / settings.agora_retry_scale
    session = sessions.load(connection, sid)
    verdict = judge(evidence(session, answer="not_found", not_found_s=elapsed_s))
    settle_if_dead(connection, settings, sid, verdict)
    log_recording("recording.not_found", recording, task=sid, verdict=verdict.reason)
    return verdict, recording


def answered(connection: Redis, recording_id: str, sid: str) -> dict[str, Any]:
    """Agora answered for ``sid``: any run of 404s is over."""

    def clear(r: dict[str, Any]) -> None:
        (r.setdefault("not_found_since", {})).pop(sid, None)
        if r.get("sid") == sid:
            r["not_found"] = 0

    return recordings.update(connection, recording_id, clear)


def stop_task(
    connection: Redis, settings: Settings, recording: dict[str, Any], sid: str, budget: Budget
) -> Judgement:
    """Send ``stop`` for one task and judge the answer. Raises the ``AgoraError`` when
    Agora could not take it now (try later), ``StopRefused`` for a request error."""
    task = task_of(recording, sid)
    client = runtime.agora_client(connection)
    try:
        answer = call(
            Step.STOP,
            lambda: client.stop(task["resource_id"], sid, recording["cname"], task["uid"]),
            budget,
            settings,
        )
    except AgoraError as exc:
        meaning = exc.verdict.meaning
        if meaning is Meaning.NOT_FOUND:
            return judge_not_found(connection, settings, recording, sid)[0]
        then = rule(Step.STOP, meaning).then
        if then is Next.FAIL:
            raise StopRefused(str(exc)) from exc
        if then is not Next.ACCEPT:
            raise
        answered(connection, recording["id"], sid)
        verdict = judge(evidence(sessions.load(connection, sid), answer=STOP_ANSWERS[meaning]))
        settle_if_dead(connection, settings, sid, verdict)
        return verdict
    answered(connection, recording["id"], sid)
    response = answer.get("serverResponse") or {}
    upload = response.get("uploadingStatus")
    upload = upload if isinstance(upload, str) else None
    session = sessions.observe_query(
        connection,
        sid,
        cname=recording["cname"],
        recorder_uid=task["uid"],
        status=STATUS_EXITED,
        files=from_answer(response),
        retention_s=settings.session_retention_s,
        upload_status=upload,
    )
    follow_session(connection, recording["id"], sid, session)
    return judge(evidence(None, answer="stopped"))


def follow_session(
    connection: Redis, recording_id: str, sid: str, session: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Carry one session's upload state to its recording (in every arrival order)."""
    if session is None:
        return None
    upload = session.get("upload_status")
    return recordings.update(
        connection, recording_id, lambda r: recordings.follow_upload(r, sid, upload)
    )


def retire_others(connection: Redis, settings: Settings, recording: dict[str, Any]) -> int:
    """Queue the retirement of every task but the current one whose session is not final."""
    queued = 0
    for sid in recording["sids"]:
        if sid == recording["sid"] and recording["state"] in (recordings.ACTIVE,):
            continue
        session = sessions.load(connection, sid)
        if session is not None and session["state"] in ("exited", "failed"):
            continue
        jobs.enqueue(connection, job_policy(settings), jobs.RETIRE_TASK, recording["id"], sid, 0)
        queued += 1
    return queued


def retire(connection: Redis, settings: Settings, recording_id: str, sid: str, tries: int) -> None:
    """End a task the recording no longer wants: stop it if it runs; settle its session
    once Agora no longer knows it. Reschedules itself until then (its own retry)."""
    recording = recordings.load(connection, recording_id)
    if recording is None or sid not in recording["sids"]:
        return
    if recording["sid"] == sid and recording["state"] == recordings.ACTIVE:
        return  # wanted again (adopted): not ours to end
    session = sessions.load(connection, sid)
    if session is not None and session["state"] in ("exited", "failed"):
        return
    verdict: Judgement | None = None
    try:
        verdict = stop_task(connection, settings, recording, sid, Budget())
    except StopRefused as exc:
        log_recording("recording.retire_refused", recording, task=sid, error=str(exc))
        return
    except (AgoraError, BudgetSpent) as exc:
        log_recording("recording.retire_deferred", recording, task=sid, error=str(exc))
    if verdict is not None and verdict.liveness is Liveness.DEAD:
        log_recording("recording.retired", recording, task=sid, reason=verdict.reason)
        return
    if tries + 1 >= RETIRE_TRIES:
        log_recording("recording.retire_gave_up", recording, task=sid)
        return
    delay = RETIRE_EVERY_S * settings.agora_retry_scale
    if verdict is not None and verdict.liveness is Liveness.FAILING_OVER:
        delay = failover_delay_s(settings, tries + 1)
    jobs.enqueue(
        connection,
        job_policy(settings),
        jobs.RETIRE_TASK,
        recording_id,
        sid,
        tries + 1,
        delay_s=delay,
    )


LIVE_SESSION_STATES = ("started", "recording", "failover", "stopping")
SWEEP_LIMIT = 1000  # sessions looked at per state and sweep: bounded work per tick


def sweep_silent(connection: Redis, settings: Settings, now_ms: int | None = None) -> int:
    """Find sessions of recordings that went silent past ``maxIdleTime`` + the margin
    (``liveness.SILENCE_MARGIN_S``) and ask Agora about them: a poll now for a recording's
    current task, a retirement for any other. Returns how many were queued."""
    now_ms = recordings.now_ms() if now_ms is None else now_ms
    policy = job_policy(settings)
    queued = 0
    for state in LIVE_SESSION_STATES:
        index = keys.sessions_by_state(state)
        for sid in keys.members(connection.zrange(index, 0, SWEEP_LIMIT - 1)):
            session = sessions.load(connection, sid)
            recording_id = session.get("recording_id") if session else None
            recording = recordings.load(connection, recording_id) if recording_id else None
            if session is None or recording is None or sid not in recording["sids"]:
                continue
            seen = evidence(session, now_ms=now_ms, max_idle_time=recording["max_idle_time"])
            if seen.silent_s is None or not silent(seen):
                continue
            if recording["sid"] == sid and recording["state"] == recordings.ACTIVE:
                jobs.enqueue(connection, policy, jobs.POLL, recording["id"], sid)
            else:
                jobs.enqueue(connection, policy, jobs.RETIRE_TASK, recording["id"], sid, 0)
            log_recording("recording.silent_task", recording, task=sid, silent_s=seen.silent_s)
            queued += 1
    return queued


def sweep_silent_job() -> int:
    """Periodic (the clock): ask about silent sessions (see ``sweep_silent``)."""
    job = get_current_job()
    assert job is not None, "sweep_silent_job runs as an RQ job"
    return sweep_silent(job.connection, runtime.settings())
