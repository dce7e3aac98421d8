"""Queue names and the settings-derived part of every job's policy (``workers.jobs``
declares each job; its ``enqueue`` applies this)."""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis
from rq import Queue, Retry

from config.settings import Settings

EVENTS_QUEUE = "recbridge-events"
CONTROL_QUEUE = "recbridge-control"
# Outbound notifications: their own queue and job. A delivery job sends from background
# threads and hands its worker back within seconds, so a slow endpoint never delays draining.
NOTIFY_QUEUE = "recbridge-notify"
# Workers take control and delivery jobs first: drain jobs hand over to successors, and a
# successor queued ahead of them would keep them waiting for as long as events flow.
ALL_QUEUES = (CONTROL_QUEUE, NOTIFY_QUEUE, EVENTS_QUEUE)


@dataclass(frozen=True)
class JobPolicy:
    """What every job states where it is enqueued, besides its timeout.

    A failed drain loses nothing (its events stay in the inbox) and Agora calls already
    retry inside the job, so RQ's retries cover only what outlasts those.
    """

    failure_ttl_s: int
    retry_intervals_s: tuple[int, ...]

    def retry(self) -> Retry | None:
        intervals = list(self.retry_intervals_s)
        return Retry(max=len(intervals), interval=intervals) if intervals else None


def job_policy(settings: Settings) -> JobPolicy:
    return JobPolicy(settings.job_failure_ttl_s, settings.job_retry_intervals_s)


def events_queue(connection: Redis) -> Queue:
    return Queue(EVENTS_QUEUE, connection=connection)


def control_queue(connection: Redis) -> Queue:
    return Queue(CONTROL_QUEUE, connection=connection)
