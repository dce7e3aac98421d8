"""Recordings on demand from RTC channel events (productId 1).

A broadcaster joining a channel whose name matches ``AUTO_RECORD_CHANNELS`` (a glob) starts a
recording when none is active; the channel's destruction (102) stops it. The recorder's own
joins never count, so a recording cannot start itself.
"""

from __future__ import annotations

import fnmatch
import logging
from typing import Any

from redis import Redis

from config.settings import Settings
from workers import jobs, recordings
from workers.channels import is_recorder
from workers.queues import job_policy

log = logging.getLogger("recbridge.autorecord")

BROADCASTER_JOINS = frozenset({103, 107, 111})
CHANNEL_DESTROY = 102


CHECK_CHANNEL = "test_webhook"  # the Console's check events name this channel


def wanted(settings: Settings, cname: str) -> bool:
    if cname == CHECK_CHANNEL:
        return False
    patterns = [p.strip() for p in settings.auto_record_channels.split(",") if p.strip()]
    return any(fnmatch.fnmatchcase(cname, p) for p in patterns)


def decide(events: list[dict[str, Any]], active: dict[str, Any] | None) -> str | None:
    """ "start", "stop" or None, from the channel's freshly applied events (pure)."""
    recorder_uids = set(active["recorder_uids"]) if active else set()
    action = None
    for event in events:
        payload = event["payload"]
        if event["eventType"] == CHANNEL_DESTROY:
            action = "stop"
        elif event["eventType"] in BROADCASTER_JOINS and not is_recorder(payload, recorder_uids):
            action = "start"
    return action


def on_channel_events(
    connection: Redis, settings: Settings, cname: str, events: list[dict[str, Any]]
) -> None:
    if not events or not settings.recording_enabled or not wanted(settings, cname):
        return
    active = recordings.active_for_channel(connection, cname)
    action = decide(events, active)
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
