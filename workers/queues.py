"""Queue names and the policy of every job, stated where jobs are enqueued."""

from __future__ import annotations

import secrets

from redis import Redis
from rq import Queue, Retry

from config.settings import Settings

EVENTS_QUEUE = "recbridge-events"
CONTROL_QUEUE = "recbridge-control"
ALL_QUEUES = (EVENTS_QUEUE, CONTROL_QUEUE)

DRAIN_TIMEOUT_S = 60
# A drain that fails is retried; the events stay in the inbox until one succeeds.
DRAIN_RETRY_INTERVALS_S = [1, 5, 30, 120, 600]


CONTROL_TIMEOUT_S = 180
# Agora calls retry inside the job (answers.py); this covers what outlasts those retries.
CONTROL_RETRY_INTERVALS_S = [10, 60, 300]


def control_retry() -> Retry:
    return Retry(max=len(CONTROL_RETRY_INTERVALS_S), interval=CONTROL_RETRY_INTERVALS_S)


def drain_retry() -> Retry:
    return Retry(max=len(DRAIN_RETRY_INTERVALS_S), interval=DRAIN_RETRY_INTERVALS_S)


def events_queue(connection: Redis) -> Queue:
    return Queue(EVENTS_QUEUE, connection=connection)


def control_queue(connection: Redis) -> Queue:
    return Queue(CONTROL_QUEUE, connection=connection)


def enqueue_control(connection: Redis, settings: Settings, func: str, *args: str) -> str:
    """Queue a recording-control job now; returns its id."""
    job_id = f"{func.rsplit('.', 1)[-1]}-{args[0] if args else 'x'}-{secrets.token_hex(4)}"
    control_queue(connection).enqueue_call(
        func,
        args=args,
        job_id=job_id,
        timeout=CONTROL_TIMEOUT_S,
        result_ttl=0,
        failure_ttl=settings.job_failure_ttl_s,
        retry=control_retry(),
    )
    return job_id
