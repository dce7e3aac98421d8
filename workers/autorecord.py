"""Recordings on demand from RTC channel events (productId 1).

A broadcaster joining a channel whose name matches ``AUTO_RECORD_CHANNELS`` (a glob) starts a
recording when none is active. The recording ends with the last human: once a leave (104,
106, 108) leaves no person in the channel, a check ``AUTO_RECORD_GRACE_S`` later stops it
unless someone came back. The recorder is itself a user of the channel, so without this the
channel (and the bill) would outlive the last person by ``maxIdleTime``; the channel's
destruction (102) stops it too. The recorder's own joins never count (recognised by the uids
recbridge gave it), so a recording cannot start or keep itself.
"""

from __future__ import annotations

import fnmatch
import logging
from typing import Any

from redis import Redis
from rq import get_current_job

from config.settings import Settings
from workers import jobs, recordings, runtime
from workers.channels import humans, is_recorder, load_channel
from workers.queues import job_policy

log = logging.getLogger("recbridge.autorecord")

BROADCASTER_JOINS = frozenset({103, 107, 111})
LEAVES = frozenset({104, 106, 108})
CHANNEL_DESTROY = 102


CHECK_CHANNEL = "test_webhook"  # the Console's check events name this channel


def wanted(settings: Settings, cname: str) -> bool:
    if cname == CHECK_CHANNEL:
        return False
    patterns = [p.strip() for p in settings.auto_record_channels.split(",") if p.strip()]
    return any(fnmatch.fnmatchcase(cname, p) for p in patterns)


def recorder_uids(active: dict[str, Any] | None) -> set[str]:
    return set(active["recorder_uids"]) if active else set()


def decide(
    events: list[dict[str, Any]], active: dict[str, Any] | None, people: set[str] | None = None
) -> str | None:
    """ "start", "stop", "idle" (nobody left: check again after the grace period) or None,
    from the channel's freshly applied events and the people present after them (pure)."""
    ours = recorder_uids(active)
    destroyed = any(e["eventType"] == CHANNEL_DESTROY for e in events)
    joined = left = False
    for event in events:
        if is_recorder(event["payload"], ours):
            continue
        joined = joined or event["eventType"] in BROADCASTER_JOINS
        left = left or event["eventType"] in LEAVES
    if destroyed:
        return "stop"
    if people is None or people:
        return "start" if joined else None
    return "idle" if joined or left else None


def on_channel_events(
    connection: Redis, settings: Settings, cname: str, events: list[dict[str, Any]]
) -> None:
    if not events or not settings.recording_enabled or not wanted(settings, cname):
        return
    active = recordings.active_for_channel(connection, cname)
    people = humans(load_channel(connection, cname), recorder_uids(active))
    action = decide(events, active, people)
    if action == "idle" and active is not None and active["source"] == "channel":
        log.info("autorecord.idle", extra={"cname": cname, "recording_id": active["id"]})
        jobs.enqueue(
            connection,
            job_policy(settings),
            jobs.AUTORECORD_CHECK,
            cname,
            active["id"],
            delay_s=settings.auto_record_grace_s,
        )
    if action == "start" and active is None:
        recording, created = recordings.create(
            connection,
            recordings.new_recording(cname, None, settings.recording_max_idle_time, "channel"),
        )
        if created:
            log.info("autorecord.start", extra={"cname": cname, "recording_id": recording["id"]})
            jobs.enqueue(connection, job_policy(settings), jobs.RUN_START, recording["id"])
    elif action == "stop" and active is not None:
        log.info("autorecord.stop", extra={"cname": cname, "recording_id": active["id"]})
        jobs.enqueue(connection, job_policy(settings), jobs.RUN_STOP, active["id"])


def check_idle_job(cname: str, recording_id: str) -> str:
    """The grace period after the last person left is over: stop the recording unless
    someone came back."""
    job = get_current_job()
    assert job is not None, "check_idle_job runs as an RQ job"
    return check_idle(job.connection, runtime.settings(), cname, recording_id)


def check_idle(connection: Redis, settings: Settings, cname: str, recording_id: str) -> str:
    active = recordings.active_for_channel(connection, cname)
    if active is None or active["id"] != recording_id:
        return "gone"
    people = humans(load_channel(connection, cname), recorder_uids(active))
    if people:
        return "occupied"
    log.info("autorecord.last_person_left", extra={"cname": cname, "recording_id": recording_id})
    recordings.update(connection, recording_id, lambda r: r.update(stop_reason="last person left"))
    jobs.enqueue(connection, job_policy(settings), jobs.RUN_STOP, recording_id)
    return "stopping"
