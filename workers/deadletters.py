"""Dead letters: jobs that failed for good, kept with their error for an operator to replay.

A failed drain loses no event (they stay in the stream's inbox); its dead letter is the
handle to drain that stream again once the cause is fixed.
"""

from __future__ import annotations

import logging
import secrets
import time
from types import TracebackType
from typing import Any

import orjson
from redis import Redis
from rq import Queue
from rq.job import Job

from config.logging import redact
from workers import jobs, keys, runtime
from workers.drainers import hand_back, replace, spawn
from workers.inbox import drain_job_id
from workers.metrics import DEAD_LETTERS, REPLAYS
from workers.queues import JobPolicy, job_policy

log = logging.getLogger("recbridge.deadletters")

DRAIN_FUNC = jobs.DRAIN_STREAM.func
DRAIN_READY = jobs.DRAIN_READY.func
ERROR_CHARS = 2000


def on_job_exception(
    job: Job, exc_type: type[BaseException], exc_value: BaseException, tb: TracebackType | None
) -> None:
    """RQ exception handler (``--exception-handler``): keep a job that will not be retried."""
    if job.should_retry:
        return
    settings = runtime.settings()
    if job.func_name == DRAIN_READY:  # its streams go back; a new job takes its place
        hand_back(job.connection, keys.draining(job.id))
        replace(job.connection, job.id, job.origin, job_policy(settings))
    letter = record(
        job.connection, job, exc_value, settings.dead_letter_retention_s, settings.secret_values()
    )
    log.error(
        "job.dead_letter",
        extra={
            "job_id": job.id,
            "dead_letter_id": letter["id"],
            "func": letter["func"],
            "error": letter["error"],
        },
    )


def record(
    connection: Redis,
    job: Job,
    exc: BaseException,
    retention_s: int,
    secret_values: tuple[str, ...] = (),
) -> dict[str, Any]:
    return _store(
        connection,
        job.func_name or "?",
        list(job.args),
        dict(job.kwargs),
        job.origin,
        job.id,
        exc,
        retention_s,
        secret_values,
    )


def record_stream(
    connection: Redis,
    stream: str,
    queue: str,
    exc: BaseException,
    retention_s: int,
    secret_values: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A stream whose events could not be applied: parked until an operator replays it."""
    return _store(
        connection, DRAIN_FUNC, [stream], {}, queue, None, exc, retention_s, secret_values
    )


def _store(
    connection: Redis,
    func: str,
    args: list[Any],
    kwargs: dict[str, Any],
    queue: str,
    job_id: str | None,
    exc: BaseException,
    retention_s: int,
    secret_values: tuple[str, ...],
) -> dict[str, Any]:
    error = redact(f"{type(exc).__name__}: {exc}", secret_values)[:ERROR_CHARS]
    letter_id, failed_ms = secrets.token_hex(10), int(time.time() * 1000)
    letter: dict[str, Any] = {
        "id": letter_id,
        "kind": "events" if func in (DRAIN_FUNC, DRAIN_READY) else "job",
        "func": func,
        "args": args,
        "kwargs": kwargs,
        "queue": queue,
        "job_id": job_id,
        "error": error,
        "failed_ms": failed_ms,
        "replays": [],
    }
    with connection.pipeline() as pipe:
        pipe.set(keys.dead_letter(letter_id), orjson.dumps(letter), ex=retention_s)
        pipe.zadd(keys.DEAD_LETTERS, {letter_id: failed_ms})
        pipe.zremrangebyscore(keys.DEAD_LETTERS, 0, failed_ms - retention_s * 1000)
        pipe.expire(keys.DEAD_LETTERS, retention_s)  # outlives none of its letters
        pipe.execute()
    DEAD_LETTERS.labels(func).inc()
    return letter


def load(connection: Redis, letter_id: str) -> dict[str, Any] | None:
    raw = connection.get(keys.dead_letter(letter_id))
    return orjson.loads(raw) if raw else None


def list_letters(connection: Redis, limit: int) -> list[dict[str, Any]]:
    ids = keys.members(connection.zrevrange(keys.DEAD_LETTERS, 0, limit - 1))
    raws = connection.mget([keys.dead_letter(i) for i in ids]) if ids else []
    return [orjson.loads(raw) for raw in raws if raw]


def replay(connection: Redis, letter_id: str, policy: JobPolicy) -> dict[str, Any] | None:
    """Queue the failed job again (a drain of the same stream, or the same call)."""
    letter = load(connection, letter_id)
    if letter is None:
        return None
    queue = Queue(letter["queue"], connection=connection)
    if letter["func"] == DRAIN_READY:
        job_id = spawn(connection, queue, policy)
    elif letter["func"] == DRAIN_FUNC:
        stream = letter["args"][0]
        job_id = drain_job_id(stream)
        with connection.pipeline() as pipe:
            pipe.multi()
            pipe.set(keys.pending(stream), job_id)
            jobs.enqueue(
                connection, policy, jobs.DRAIN_STREAM, stream, job_id=job_id, pipeline=pipe
            )
            pipe.execute()
    else:
        job_id = f"replay-{secrets.token_hex(8)}"
        spec = jobs.spec_for(letter["func"])
        if spec is None:  # a job other code queued: replayed as it was, with control's timeout
            queue.enqueue_call(
                letter["func"],
                args=tuple(letter["args"]),
                kwargs=letter["kwargs"],
                job_id=job_id,
                timeout=jobs.CONTROL_TIMEOUT_S,
                failure_ttl=policy.failure_ttl_s,
            )
        else:
            jobs.enqueue(
                connection, policy, spec, *letter["args"], kwargs=letter["kwargs"], job_id=job_id
            )
    letter["replays"].append({"job_id": job_id, "at_ms": int(time.time() * 1000)})
    ttl = connection.ttl(keys.dead_letter(letter_id))
    connection.set(keys.dead_letter(letter_id), orjson.dumps(letter), ex=max(int(ttl), 60))
    REPLAYS.inc()
    log.info(
        "job.replayed",
        extra={"dead_letter_id": letter_id, "job_id": job_id, "func": letter["func"]},
    )
    return letter
