"""Acting on what a session shows (callbacks and query answers): confirm, restart, finish;
and on a 404 that may be a failover."""

from __future__ import annotations

from typing import Any

from redis import Redis

from config.settings import Settings
from workers import jobs, recordings, sessions
from workers.agora.answers import AgoraError
from workers.agora.liveness import Liveness
from workers.control import tasks
from workers.control.calls import Budget
from workers.control.context import log_recording
from workers.control.scheduling import schedule_poll
from workers.control.starting import restart
from workers.queues import job_policy
from workers.recordings import ACTIVE, STOPPED


def act(
    connection: Redis,
    settings: Settings,
    recording: dict[str, Any],
    session: dict[str, Any] | None,
    budget: Budget,
) -> None:
    action = recordings.decide(
        recording, session, recordings.now_ms(), settings.recording_start_confirm_s
    )
    if action.kind == "confirm":
        recordings.update(connection, recording["id"], lambda r: r.update(confirmed=True))
        log_recording("recording.confirmed", recording)
    elif action.kind == "query":
        # A fatal error (level 5) or silence: Agora says call query. Ask now.
        log_recording("recording.query_now", recording, reason=action.reason)
        asked = {"reason": action.reason, "at_ms": recordings.now_ms()}
        recordings.update(connection, recording["id"], lambda r: r.update(queried_at_once=asked))
        schedule_poll(connection, settings, recording, 0)
    elif action.kind == "restart":  # the old task is known dead
        restart(connection, settings, recording, action.reason or "", budget)
    elif action.kind == "replace":
        replace(connection, settings, recording, action.reason or "", budget)
    elif action.kind == "finish":
        finish(connection, settings, recording, session, action.state or STOPPED, action.reason)


def finish(
    connection: Redis,
    settings: Settings,
    recording: dict[str, Any],
    session: dict[str, Any] | None,
    state: str,
    reason: str | None,
) -> dict[str, Any]:
    def change(r: dict[str, Any]) -> None:
        r.update(state=state, ended_reason=reason)
        if session is not None:
            recordings.follow_upload(r, session["sid"], session.get("upload_status"))

    done = recordings.update(connection, recording["id"], change)
    log_recording("recording.finished", done, reason=reason)
    tasks.retire_others(connection, settings, done)
    return done


def replace(
    connection: Redis, settings: Settings, recording: dict[str, Any], reason: str, budget: Budget
) -> None:
    """Restart a task that never confirmed: stop it first, restart once it is gone."""
    sid = recording["sid"]
    try:
        verdict = tasks.stop_task(connection, settings, recording, sid, budget)
    except (tasks.StopRefused, AgoraError) as exc:
        log_recording("recording.replace_deferred", recording, error=str(exc))
        schedule_poll(connection, settings, recording, 5.0 * settings.agora_retry_scale)
        return
    if not verdict.gone:
        schedule_poll(connection, settings, recording, 5.0 * settings.agora_retry_scale)
        return
    if verdict.liveness is not Liveness.DEAD:  # exiting: its session ends later
        jobs.enqueue(connection, job_policy(settings), jobs.RETIRE_TASK, recording["id"], sid, 0)
    restart(connection, settings, recording, reason, budget)


def not_found(
    connection: Redis, settings: Settings, recording: dict[str, Any], budget: Budget
) -> None:
    """A poll's 404: a failover (ask again on Agora's schedule) or a task that is gone
    (then, by the liveness table, restart or end the recording)."""
    sid = recording["sid"]
    verdict, recording = tasks.judge_not_found(connection, settings, recording, sid)
    if verdict.liveness is Liveness.FAILING_OVER:
        delay = tasks.failover_delay_s(settings, recording.get("not_found", 1))
        schedule_poll(connection, settings, recording, delay)
        return
    if verdict.liveness is not Liveness.DEAD:
        schedule_poll(connection, settings, recording, tasks.failover_delay_s(settings, 3))
        return
    if recording["wanted"] and recording["state"] == ACTIVE and verdict.restart:
        restart(connection, settings, recording, f"session {verdict.reason}", budget)
        return
    session = sessions.load(connection, sid)
    reason = f"ended by Agora: {verdict.reason}" if recording["wanted"] else verdict.reason
    finish(connection, settings, recording, session, STOPPED, reason)
