"""The successors control jobs schedule for themselves (polls, stops): one place."""

from __future__ import annotations

from typing import Any

from redis import Redis

from config.settings import Settings
from workers import jobs
from workers.queues import job_policy

FIRST_POLL_S = 5
UNCONFIRMED_POLL_S = 15


def poll_delay_s(settings: Settings, recording: dict[str, Any]) -> float:
    delay = settings.recording_poll_s if recording["confirmed"] else UNCONFIRMED_POLL_S
    return min(delay, settings.recording_poll_s)


def schedule_poll(
    connection: Redis, settings: Settings, recording: dict[str, Any], delay_s: float
) -> str:
    return jobs.enqueue(
        connection,
        job_policy(settings),
        jobs.POLL,
        recording["id"],
        recording["sid"],
        delay_s=delay_s,
    )


def schedule_stop(connection: Redis, settings: Settings, recording_id: str, delay_s: float) -> str:
    return jobs.enqueue(
        connection, job_policy(settings), jobs.RUN_STOP, recording_id, delay_s=delay_s
    )


def stop_retry_delay_s(settings: Settings, attempts: int) -> float | None:
    """A stop that failed for now tries again on JOB_RETRY_INTERVALS_S; None once over."""
    intervals = settings.job_retry_intervals_s
    return float(intervals[attempts]) if attempts < len(intervals) else None
