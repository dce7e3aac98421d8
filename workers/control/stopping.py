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
from workers import keys, recordings, sessions
from workers.agora.answers import AgoraError
from workers.agora.liveness import Liveness
from workers.control import leases, tasks
from workers.control.calls import LOCK_TTL_S, Budget, BudgetSpent, worst_call_s
from workers.control.context import log_recording
from workers.control.policy import Step
from workers.control.scheduling import schedule_stop, stop_retry_delay_s
from workers.recordings import ACTIVE, FAILED, REQUESTED, STARTING, STOPPED, STOPPING


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
        if recording.get("adopting"):
            # A task runs whose sid its callbacks have not told yet: never "stopped" before
            # it is (the adoption queues this stop again as soon as the sid is known).
            return _try_later(connection, settings, recording, RuntimeError("sid not known yet"))
        done = recordings.update(connection, recording_id, lambda r: r.update(state=STOPPED))
        return str(done["state"])
    sid = recording["sid"]
    try:
        verdict = tasks.stop_task(connection, settings, recording, sid, budget)
    except tasks.StopRefused as exc:
        # A request error (432, 1003, ...): no retry can cure it, and the task may still run.
        message = f"{exc}; the task may still be recording"
        failed = recordings.update(
            connection, recording_id, lambda r: r.update(state=FAILED, error=message)
        )
        log_recording("recording.stop_refused", failed, error=message)
        return FAILED
    except AgoraError as exc:  # not taken now: this job's own tries
        return _try_later(connection, settings, recording, exc)
    if verdict.liveness is Liveness.FAILING_OVER:
        # A 404 during a failover: the task comes back on a new server. Ask again.
        tries = (recordings.load(connection, recording_id) or recording).get("not_found", 1)
        schedule_stop(connection, settings, recording_id, tasks.failover_delay_s(settings, tries))
        log_recording("recording.stop_waits_failover", recording, reason=verdict.reason)
        return STOPPING
    note = None if verdict.reason == "stopped" else verdict.reason
    session = sessions.load(connection, sid)

    def finish(r: dict[str, Any]) -> None:
        r.update(state=STOPPED, ended_reason=note)
        if session is not None:
            recordings.follow_upload(r, sid, session.get("upload_status"))

    done = recordings.update(connection, recording_id, finish)
    log_recording("recording.stopped", done, upload_status=done.get("upload_status"), note=note)
    tasks.retire_others(connection, settings, done)
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
