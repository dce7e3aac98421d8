"""A small pool of drain jobs shared by all streams.

One RQ job costs some 70 Redis round trips; spending one per session per burst caps the
service near what RQ can run. So a stream with new events joins one ready list, and at
most ``DRAIN_CONCURRENCY`` drain jobs take streams from it, lingering briefly for more work
before they leave. A job leaves only in the same atomic step that sees the list empty, so
a stream made ready at that moment always finds a drainer; a job that has drained for a
shift hands its place to a successor, so control jobs get workers too.

Crash safety: a job moves the stream it works on into its own list (``draining:<job id>``);
a retried job hands it back first, and the dead-letter handler does the same for a job
that failed for good. Events leave an inbox only in the transaction that applies them.
"""

from __future__ import annotations

import secrets

from redis import Redis
from redis.client import Pipeline
from rq import Queue

from workers import keys
from workers.queues import DRAIN_TIMEOUT_S, JobPolicy

LINGER_S = 0.5  # how long an idle drain job waits for more work before it leaves
SHIFT_S = 5.0  # how long one drain job may keep a worker before handing over
DRAIN_READY = "workers.drain.drain_ready"

# KEYS: ready, drainers. Leave only when nothing is ready, in one step.
LEAVE_IF_IDLE = """
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('DECR', KEYS[2])
  return 1
end
return 0
"""


def enqueue_drainer(pipe: Pipeline, queue: Queue, policy: JobPolicy) -> str:
    """Add a drain job inside the caller's transaction (the caller counts it)."""
    job_id = f"drainer-{secrets.token_hex(8)}"
    queue.enqueue_call(
        DRAIN_READY,
        job_id=job_id,
        timeout=DRAIN_TIMEOUT_S,
        result_ttl=0,
        failure_ttl=policy.failure_ttl_s,
        retry=policy.retry(),
        description="drain ready streams",
        pipeline=pipe,
    )
    return job_id


def hand_over(connection: Redis, queue_name: str, policy: JobPolicy) -> None:
    """A successor takes this job's place in the pool (the count stays the same)."""
    with connection.pipeline() as pipe:
        pipe.multi()
        enqueue_drainer(pipe, Queue(queue_name, connection=connection), policy)
        pipe.execute()


def hand_back(connection: Redis, draining: str) -> None:
    """Put a failed job's stream back at the front of the ready list."""
    while connection.lmove(draining, keys.READY, "RIGHT", "LEFT") is not None:
        pass


def release_failed(connection: Redis, job_id: str, queue_name: str, policy: JobPolicy) -> None:
    """A drain job failed for good: hand its stream back and give its place to a new job."""
    hand_back(connection, keys.draining(job_id))
    with connection.pipeline() as pipe:
        pipe.multi()
        enqueue_drainer(pipe, Queue(queue_name, connection=connection), policy)
        pipe.execute()


def spawn(connection: Redis, queue: Queue, policy: JobPolicy) -> str:
    """One more drain job (a replay, or an operator's nudge)."""
    with connection.pipeline() as pipe:
        pipe.multi()
        pipe.incr(keys.DRAINERS)
        job_id = enqueue_drainer(pipe, queue, policy)
        pipe.execute()
    return job_id
