"""The successors control jobs schedule for themselves (polls, stops): one place."""

from __future__ import annotations

from typing import Any

from redis import Redis

from config.settings import Settings
from workers import jobs, recordings
from workers.queues import job_policy

FIRST_POLL_S = 5
UNCONFIRMED_POLL_S = 15


def poll_delay_s(settings: Settings, recording: dict[str, Any]) -> float:
    delay = settings.recording_poll_s if recording["confirmed"] else UNCONFIRMED_POLL_S
    return min(delay, settings.recording_poll_s)


def poll_plan(
    settings: Settings,
    recording: dict[str, Any],
    session: dict[str, Any] | None,
    now_ms: int,
) -> tuple[bool, float]:
    """Whether a poll should ``query`` now, and when to look again (seconds).

    Polls adapt to evidence. A confirmed session whose callbacks keep coming (Agora sends
    event 33 about every minute while it records, and 43/42 on stream changes) is not
    queried: the next look is when its callbacks would be overdue
    (``RECORDING_POLL_SILENCE_S`` after the last one), and a query still goes at least
    every ``RECORDING_POLL_QUIET_MAX_S``. A silent session, an unconfirmed start, or one in
    failover is queried every ``RECORDING_POLL_S``. Agora's waits are scaled by
    ``AGORA_RETRY_SCALE`` like every documented interval.
    """
    every = poll_delay_s(settings, recording)
    if not recording["confirmed"] or session is None or session.get("state") != "recording":
        return True, every
    scale = settings.agora_retry_scale
    silence_ms = settings.recording_poll_silence_s * scale * 1000
    quiet_max_ms = settings.recording_poll_quiet_max_s * scale * 1000
    queried_ms = int((session.get("observed") or {}).get("at_ms") or 0)
    heard_ms = int(session.get("updated_ms") or 0)  # the latest callback or query
    if heard_ms <= queried_ms or now_ms - heard_ms > silence_ms:
        return True, every  # nothing heard since the last query, or not for too long
    if now_ms - queried_ms > quiet_max_ms:
        return True, every
    return False, max(every, (heard_ms + silence_ms - now_ms) / 1000)


def schedule_poll(
    connection: Redis, settings: Settings, recording: dict[str, Any], delay_s: float
) -> str:
    """Queue the recording's next poll and make it the one current poll: any other poll
    job of this recording (a chain a dead worker's resumed job would double) then ends
    without querying. Queued before it is recorded, so a crash between the two leaves the
    predecessor, not a job nobody runs, as the current poll."""
    job_id = jobs.new_job_id(jobs.POLL, (recording["id"],))
    jobs.enqueue(
        connection,
        job_policy(settings),
        jobs.POLL,
        recording["id"],
        recording["sid"],
        delay_s=delay_s,
        job_id=job_id,
    )
    recordings.update(connection, recording["id"], lambda r: r.update(poll_job=job_id))
    return job_id


def is_current_poll(recording: dict[str, Any], job_ids: frozenset[str]) -> bool:
    current = recording.get("poll_job")
    return current is None or current in job_ids


def schedule_stop(connection: Redis, settings: Settings, recording_id: str, delay_s: float) -> str:
    return jobs.enqueue(
        connection, job_policy(settings), jobs.RUN_STOP, recording_id, delay_s=delay_s
    )


def stop_retry_delay_s(settings: Settings, attempts: int) -> float | None:
    """A stop that failed for now tries again on JOB_RETRY_INTERVALS_S; None once over."""
    intervals = settings.job_retry_intervals_s
    return float(intervals[attempts]) if attempts < len(intervals) else None
