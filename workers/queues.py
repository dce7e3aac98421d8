"""Queue names and the policy of every job, stated where jobs are enqueued."""

from __future__ import annotations

from redis import Redis
from rq import Queue, Retry

EVENTS_QUEUE = "recbridge-events"
CONTROL_QUEUE = "recbridge-control"
ALL_QUEUES = (EVENTS_QUEUE, CONTROL_QUEUE)

DRAIN_TIMEOUT_S = 60
# A drain that fails is retried; the events stay in the inbox until one succeeds.
DRAIN_RETRY_INTERVALS_S = [1, 5, 30, 120, 600]


def drain_retry() -> Retry:
    return Retry(max=len(DRAIN_RETRY_INTERVALS_S), interval=DRAIN_RETRY_INTERVALS_S)


def events_queue(connection: Redis) -> Queue:
    return Queue(EVENTS_QUEUE, connection=connection)


def control_queue(connection: Redis) -> Queue:
    return Queue(CONTROL_QUEUE, connection=connection)
