"""Adoption: a task recbridge started whose ``start`` answer was lost (206/65, then 201/7
without a sid, or a worker that died after Agora took the start) is recognised by its
callbacks, which carry the cname and the recorder uid recbridge claimed before starting.
It becomes the recording's task; if the recording already has another, it is retired:
never two live tasks for one recording.
"""

from __future__ import annotations

from typing import Any

import orjson
from redis import Redis

from config.settings import Settings
from workers import jobs, keys, recordings, sessions
from workers.control.context import log_recording
from workers.control.scheduling import FIRST_POLL_S, schedule_poll, schedule_stop
from workers.queues import job_policy
from workers.recordings import ACTIVE, REQUESTED, STARTING, STOPPING


def adopt(connection: Redis, settings: Settings, session: dict[str, Any]) -> str | None:
    """Link an unlinked session to the recording that claimed its recorder uid; returns
    the recording id, or None when no recording claimed it (a task someone else started)."""
    uids = session.get("recorder_uids") or [session.get("recorder_uid")]
    uid = str(uids[0])
    raw = connection.get(keys.recorder_claim(session["cname"], uid))
    if not raw:
        return None
    claimed = orjson.loads(raw)
    recording_id: str = claimed["recording_id"]
    resource_id, sid = claimed["resource_id"], session["sid"]
    if resource_id is None:
        return None
    sessions.link(connection, sid, recording_id, resource_id, settings.session_retention_s)

    previous: list[str] = []

    def take(r: dict[str, Any]) -> None:
        r.setdefault("tasks", {})[sid] = {"resource_id": resource_id, "uid": uid}
        if sid not in r["sids"]:
            r["sids"].append(sid)
        adopting = r.get("adopting")
        if adopting and adopting["uid"] == uid and r["state"] in (ACTIVE, STOPPING):
            # The task this recording is waiting for (a start, or a rollover's new task).
            previous[:] = [r["sid"]] if r["sid"] not in (None, sid) else []
            r.update(
                sid=sid,
                resource_id=resource_id,
                recorder_uid=uid,
                adopting=None,
                confirmed=False,
                session_started_ms=recordings.now_ms(),
            )

    try:
        recording = recordings.update(connection, recording_id, take)
    except KeyError:
        return None
    policy = job_policy(settings)
    for old in previous:  # a rollover's old task: the new one records now
        jobs.enqueue(connection, policy, jobs.RETIRE_TASK, recording_id, old, 0)
    if recording["sid"] == sid and recording["state"] == ACTIVE:
        log_recording("recording.adopted", recording, recorder_uid=uid)
        schedule_poll(connection, settings, recording, FIRST_POLL_S * settings.agora_retry_scale)
        jobs.enqueue(connection, policy, jobs.RECONCILE, recording_id, sid)
    elif recording["sid"] == sid and recording["state"] == STOPPING:
        log_recording("recording.adopted", recording, recorder_uid=uid)
        schedule_stop(connection, settings, recording_id, 0)
    elif recording["wanted"] and (
        recording["state"] in (REQUESTED, STARTING)
        or (recording.get("pending_start") or {}).get("uid") == uid
    ):
        # Its start is still waiting for Agora's answer: the start adopts it.
        log_recording("recording.task_seen_while_starting", recording, task=sid)
    else:  # another task runs, or the recording is no longer wanted: end this one
        log_recording("recording.retiring_stray", recording, task=sid, recorder_uid=uid)
        jobs.enqueue(connection, policy, jobs.RETIRE_TASK, recording_id, sid, 0)
    return recording_id
