"""Acting on what a session shows (callbacks and query answers): confirm, restart, finish;
and on a 404 that may be a failover."""

from __future__ import annotations

from typing import Any

from redis import Redis

from config.settings import Settings
from workers import recordings
from workers.control.calls import Budget
from workers.control.context import log_recording
from workers.control.policy import failover_delay_s
from workers.control.scheduling import schedule_poll, schedule_stop
from workers.control.starting import restart
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
    elif action.kind == "restart":
        restart(connection, settings, recording, action.reason or "", budget)
    elif action.kind == "finish":

        def finish(r: dict[str, Any]) -> None:
            r.update(state=action.state, ended_reason=action.reason)
            if session is not None:
                r["upload_status"] = session.get("upload_status") or r.get("upload_status")

        done = recordings.update(connection, recording["id"], finish)
        log_recording("recording.finished", done, reason=action.reason)


def not_found(
    connection: Redis, settings: Settings, recording: dict[str, Any], step: str, budget: Budget
) -> None:
    """404 may be a failover (Agora: re-ask after 5, 10, 15 s) or a session that is gone."""
    tries = recording["not_found"] + 1

    def count(r: dict[str, Any]) -> None:
        r.update(not_found=tries, failover_404s=r.get("failover_404s", 0) + 1)

    recording = recordings.update(connection, recording["id"], count)
    delay = failover_delay_s(tries)
    if delay is not None:
        delay *= settings.agora_retry_scale
        if step == "poll":
            schedule_poll(connection, settings, recording, delay)
        else:
            schedule_stop(connection, settings, recording["id"], delay)
        return
    if step == "poll" and recording["wanted"] and recording["state"] == ACTIVE:
        restart(
            connection, settings, recording, "session not found after the failover window", budget
        )
        return
    done = recordings.update(
        connection,
        recording["id"],
        lambda r: r.update(state=STOPPED, ended_reason="session already ended (404)"),
    )
    log_recording("recording.finished", done, reason="not found")
