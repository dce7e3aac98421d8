"""A small pool of drain jobs shared by all streams.

One RQ job costs some 70 Redis round trips; spending one per session per burst caps the
service near what RQ can run. So a stream with new events joins one ready list, and at
most ``DRAIN_CONCURRENCY`` drain jobs take streams from it, lingering briefly for more work
before they leave. A job leaves only in the same atomic step that sees the list empty, so a
stream made ready at that moment always finds a drainer; a job that has drained for a shift
hands its place to a successor, so control jobs get workers too.

Each drain job holds a lease in ``rb:drainers`` (a sorted set of job id -> expiry, by
Redis's clock) and renews it as it works. A job whose worker was killed stops renewing: its
lease runs out within ``LEASE_S``, ingest then starts a new drain job, and any drain job
hands the dead one's stream (kept in ``draining:<job id>``) back to the ready list. Events
leave an inbox only in the transaction that applies them, so nothing is lost or doubled.
"""

from __future__ import annotations

import random
import secrets

from redis import Redis
from redis.client import Pipeline
from rq import Queue

from workers import jobs, keys
from workers.lua import LuaScript
from workers.queues import ALL_QUEUES, JobPolicy

LINGER_S = 0.5  # how long an idle drain job waits for more work before it leaves
SHIFT_S = 5.0  # after this long a drain job hands its worker over, if a job is waiting
SHIFT_JITTER = 0.2  # shifts differ by up to this share, so drainers rarely hand over at once
MAX_SHIFT_S = 30.0  # hand over even when nothing waits: well inside the job's timeout
LEASE_S = 10  # a running drain job that has not renewed for this long is dead
RENEW_EVERY_S = 1.0  # a working drain job renews its lease at most this often
QUEUED_LEASE_S = 60  # a queued drain job's lease, until it starts and renews

# The lease scripts use Redis's clock so every machine agrees on expiry.
_NOW_MS = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) "
# KEYS: drainers. ARGV: job id, lease seconds.
RENEW = LuaScript(_NOW_MS + "redis.call('ZADD', KEYS[1], now + ARGV[2] * 1000, ARGV[1]) return now")
# KEYS: ready, drainers. ARGV: job id. Leave only when nothing is ready, in one step.
LEAVE_IF_IDLE = LuaScript("""
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 1
end
return 0
""")
# KEYS: drainers. Returns the ids of drain jobs whose lease ran out, and forgets them.
EXPIRED = LuaScript(
    _NOW_MS
    + """
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return dead
"""
)


def new_drainer_id() -> str:
    return f"drainer-{secrets.token_hex(8)}"


def enqueue_drainer(pipe: Pipeline, queue: Queue, policy: JobPolicy, job_id: str) -> None:
    """Add a drain job inside the caller's transaction (the caller adds its lease)."""
    jobs.enqueue(
        queue.connection,
        policy,
        jobs.DRAIN_READY,
        job_id=job_id,
        description="drain ready streams",
        pipeline=pipe,
    )


def add_drainer(pipe: Pipeline, queue: Queue, policy: JobPolicy, now_ms: int) -> str:
    job_id = new_drainer_id()
    enqueue_drainer(pipe, queue, policy, job_id)
    pipe.zadd(keys.DRAINERS, {job_id: now_ms + QUEUED_LEASE_S * 1000})
    return job_id


def shift_length_s() -> float:
    return SHIFT_S * (1 + SHIFT_JITTER * (2 * random.random() - 1))


def jobs_waiting(connection: Redis) -> bool:
    """Whether any recbridge queue holds a job no worker has taken yet."""
    with connection.pipeline(transaction=False) as pipe:
        for name in ALL_QUEUES:
            pipe.llen(Queue(name, connection=connection).key)
        return any(pipe.execute())


def redis_now_ms(connection: Redis | Pipeline) -> int:
    seconds, micros = connection.time()
    return int(seconds) * 1000 + int(micros) // 1000


def hand_back(connection: Redis, draining: str) -> int:
    """Put the streams of a failed or dead drain job back at the front of the ready list."""
    moved = 0
    while connection.lmove(draining, keys.READY, "RIGHT", "LEFT") is not None:
        moved += 1
    return moved


def recover_dead(connection: Redis) -> int:
    """Hand back the streams of every drain job whose lease ran out."""
    dead = EXPIRED.run(connection, [keys.DRAINERS], [])
    return sum(hand_back(connection, keys.draining(keys.text(job_id))) for job_id in dead)


def replace(connection: Redis, job_id: str, queue_name: str, policy: JobPolicy) -> str:
    """Give a leaving or failed drain job's place to a new one, in one step."""
    with connection.pipeline() as pipe:
        now_ms = redis_now_ms(connection)
        pipe.multi()
        pipe.zrem(keys.DRAINERS, job_id)
        successor = add_drainer(pipe, Queue(queue_name, connection=connection), policy, now_ms)
        pipe.execute()
    return successor


def spawn(connection: Redis, queue: Queue, policy: JobPolicy) -> str:
    """One more drain job (a replay, or an operator's nudge)."""
    with connection.pipeline() as pipe:
        now_ms = redis_now_ms(connection)
        pipe.multi()
        job_id = add_drainer(pipe, queue, policy, now_ms)
        pipe.execute()
    return job_id
