"""Stopping a recording. A stop owns its retry: a stop Agora cannot take now schedules
the next try itself on ``JOB_RETRY_INTERVALS_S`` (and a 404 waits out the failover
schedule). It is enqueued without RQ's retry; once its own tries are over it fails for good
(a dead letter an operator can replay).
"""

from __future__ import annotations

from typing import Any

from redis import Redis
from redis.exceptions import LockError

from config.settings import Settings
from workers import keys, recordings, runtime, sessions
from workers.agora.answers import AgoraError
from workers.control import leases
from workers.control.acting import not_found
from workers.control.calls import LOCK_TTL_S, Budget, BudgetSpent, call, worst_call_s
from workers.control.context import log_recording
from workers.control.policy import Next, Step, rule
from workers.control.scheduling import schedule_stop, stop_retry_delay_s
from workers.recordings import ACTIVE, FAILED, REQUESTED, STARTING, STOPPED, STOPPING

STATUS_EXITED = 8  # a successful synchronous stop: the recorder left and uploaded


def stop(connection: Redis, settings: Settings, recording_id: str) -> str:
    """Stop a recording; returns its state. Stopping twice costs one ``stop`` call."""

    def want_stopped(r: dict[str, Any]) -> None:
        r["wanted"] = False
        if r["state"] == REQUESTED:
            r["state"] = STOPPED
        elif r["state"] in (STARTING, ACTIVE):
            r["state"] = STOPPING

    recording = recordings.update(connection, recording_id, want_stopped)
    if recording["state"] != STOPPING:
        return str(recording["state"])
    budget = Budget()
    lock = connection.lock(
        keys.recording_lock(recording_id),
        timeout=LOCK_TTL_S,
        blocking_timeout=max(budget.remaining_s() - worst_call_s(Step.STOP, settings), 0.1),
        thread_local=False,  # the lease's heartbeat thread extends it
    )
    try:
        with lock:
            leases.hold(lock)
            try:
                return _stop_locked(connection, settings, recording_id, budget)
            finally:
                leases.release(lock)
    except (LockError, BudgetSpent) as exc:
        return _try_later(connection, settings, recording, exc)


def _stop_locked(connection: Redis, settings: Settings, recording_id: str, budget: Budget) -> str:
    recording = recordings.load(connection, recording_id)
    if recording is None or recording["state"] != STOPPING:
        return str(recording["state"]) if recording else STOPPED
    if recording["sid"] is None:
        return str(
            recordings.update(connection, recording_id, lambda r: r.update(state=STOPPED))["state"]
        )
    client = runtime.agora_client(connection)
    note = None
    try:
        answer = call(
            Step.STOP,
            lambda: client.stop(
                recording["resource_id"],
                recording["sid"],
                recording["cname"],
                recording["recorder_uid"],
            ),
            budget,
            settings,
        )
        response = answer.get("serverResponse") or {}
        upload = response.get("uploadingStatus")
        file_list = response.get("fileList")
        sessions.observe_query(
            connection,
            recording["sid"],
            cname=recording["cname"],
            recorder_uid=recording["recorder_uid"],
            status=STATUS_EXITED,
            files=file_list if isinstance(file_list, list) else [],
            retention_s=settings.session_retention_s,
            upload_status=upload if isinstance(upload, str) else None,
        )
    except AgoraError as exc:
        then = rule(Step.STOP, exc.verdict.meaning).then
        if then is Next.FAILOVER_WAIT:
            not_found(connection, settings, recording, "stop", budget)
            return STOPPING
        if then is Next.FAIL:
            message = str(exc)
            recordings.update(
                connection, recording_id, lambda r: r.update(state=FAILED, error=message)
            )
            return FAILED
        if then is not Next.ACCEPT:  # Next.RESCHEDULE
            return _try_later(connection, settings, recording, exc)
        upload, note = None, exc.verdict.meaning.value
    done = recordings.update(
        connection,
        recording_id,
        lambda r: r.update(
            state=STOPPED, upload_status=upload or r.get("upload_status"), ended_reason=note
        ),
    )
    log_recording("recording.stopped", done, upload_status=upload, note=note)
    return STOPPED


def _try_later(
    connection: Redis, settings: Settings, recording: dict[str, Any], exc: Exception
) -> str:
    attempts = int(recording.get("stop_attempts") or 0)
    delay = stop_retry_delay_s(settings, attempts)
    if delay is None:
        log_recording("recording.stop_gave_up", recording, error=str(exc))
        raise exc  # no RQ retry on this job: it becomes a dead letter
    recordings.update(connection, recording["id"], lambda r: r.update(stop_attempts=attempts + 1))
    schedule_stop(connection, settings, recording["id"], delay)
    log_recording("recording.stop_deferred", recording, error=str(exc), retry_in_s=delay)
    return STOPPING
