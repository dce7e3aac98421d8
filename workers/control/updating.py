"""Live uid changes: the recording's ``uids`` sent to its running task with Agora's
``update`` (``subscribeAudioUids``; Agora replaces the list). A recording that has no
running task yet keeps the uids for its start."""

from __future__ import annotations

from typing import Any

from redis import Redis

from config.settings import Settings
from workers import jobs, recordings, runtime
from workers.agora.answers import AgoraError, Meaning
from workers.control.calls import Budget, call
from workers.control.context import log_recording
from workers.control.intake import check_request
from workers.control.policy import Step
from workers.control.tasks import task_of
from workers.queues import job_policy

UPDATED, PENDING = "updated", "pending"


class Finished(Exception):
    """The recording is over: there is no task to change."""


def request_uids(
    connection: Redis, settings: Settings, recording_id: str, uids: list[str] | None
) -> dict[str, Any] | None:
    """Store new uids for a recording and queue the ``update`` of its live task; None for
    an unknown recording. Raises ``InvalidRequest`` (bad uids) or ``Finished``."""
    recording = recordings.load(connection, recording_id)
    if recording is None:
        return None
    if recording["state"] in recordings.FINAL:
        raise Finished(f"recording {recording_id} is {recording['state']}")
    check_request(recording["cname"], uids, recording["max_idle_time"])
    changed = recordings.update(connection, recording_id, lambda r: r.update(uids=uids))
    jobs.enqueue(connection, job_policy(settings), jobs.UPDATE_UIDS, recording_id)
    log_recording("recording.uids_requested", changed, uids=uids)
    return changed


def update_uids(connection: Redis, settings: Settings, recording_id: str) -> str:
    recording = recordings.load(connection, recording_id)
    if recording is None or recording["state"] != recordings.ACTIVE or recording["sid"] is None:
        return PENDING  # a start to come uses the stored uids
    sid = recording["sid"]
    task = task_of(recording, sid)
    uids = recording["uids"]
    client = runtime.agora_client(connection)
    try:
        call(
            Step.QUERY,  # update shares query's retries: transient failures back off
            lambda: client.update(
                task["resource_id"],
                sid,
                recording["cname"],
                task["uid"],
                subscribe=uids if uids else ["#allstream#"],
            ),
            Budget(),
            settings,
        )
    except AgoraError as exc:
        log_recording("recording.update_failed", recording, error=str(exc))
        if exc.verdict.meaning in (Meaning.NOT_FOUND, Meaning.CONFIGURATION):
            message = str(exc)
            recordings.update(connection, recording_id, lambda r: r.update(update_error=message))
            return "failed"
        raise  # transient and retries over: the job's RQ retry tries again
    done = recordings.update(
        connection, recording_id, lambda r: r.update(applied_uids=uids, update_error=None)
    )
    log_recording("recording.updated", done, uids=uids)
    return UPDATED
