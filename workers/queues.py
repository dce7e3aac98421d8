"""Queue names and the policy of every job, stated where jobs are enqueued."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from redis import Redis
from rq import Queue, Retry

from config.settings import Settings

EVENTS_QUEUE = "recbridge-events"
CONTROL_QUEUE = "recbridge-control"
# Workers take control jobs first: drain jobs hand over to successors, and a successor
# queued ahead of control jobs would keep them waiting for as long as events flow.
ALL_QUEUES = (CONTROL_QUEUE, EVENTS_QUEUE)

DRAIN_TIMEOUT_S = 60


CONTROL_TIMEOUT_S = 180


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


def enqueue_control(connection: Redis, settings: Settings, func: str, *args: str) -> str:
    """Queue a recording-control job now; returns its id."""
    job_id = f"{func.rsplit('.', 1)[-1]}-{args[0] if args else 'x'}-{secrets.token_hex(4)}"
    policy = job_policy(settings)
    control_queue(connection).enqueue_call(
        func,
        args=args,
        job_id=job_id,
        timeout=CONTROL_TIMEOUT_S,
        result_ttl=0,
        failure_ttl=policy.failure_ttl_s,
        retry=policy.retry(),
    )
    return job_id
