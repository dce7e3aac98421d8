"""The per-stream inbox: the one atomic step that acknowledges a callback.

A *stream* is whose events must be applied in order: ``s:<sid>`` for a recording session,
``c:<channel>`` for RTC channel events. Ingest appends to the stream's inbox and, only when
no drain is pending for it, enqueues one ``drain`` job; marker, event and job are written in
a single MULTI/EXEC so no crash can separate them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from redis import Redis, WatchError
from redis.commands.core import Script
from rq import Queue

from workers import keys
from workers.queues import DRAIN_TIMEOUT_S, JobPolicy

UNROUTED_KEEP = 10_000
Outcome = Literal["accepted", "duplicate"]

# The fast path, one round trip: while a drain is pending for the stream (most callbacks of
# a busy session), marker and event are written by one script and no job is needed.
# KEYS: marker, pending flag, inbox. ARGV: entry, marker TTL.
# Returns 0 duplicate, 1 accepted, 2 no drain pending (take the transaction path).
_FAST_PATH = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then return 2 end
redis.call('SET', KEYS[1], 1, 'EX', ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[1])
return 1
"""
_fast_scripts: dict[int, Script] = {}


def _fast_path(connection: Redis) -> Script:
    script = _fast_scripts.get(id(connection))
    if script is None:
        script = _fast_scripts[id(connection)] = connection.register_script(_FAST_PATH)
    return script


@dataclass(frozen=True)
class Submission:
    notice_id: str
    stream: str | None
    body: dict[str, Any]
    received_ms: int


def encode_entry(sub: Submission) -> bytes:
    return orjson.dumps({"received_ms": sub.received_ms, "event": sub.body})


def decode_entry(raw: bytes | str) -> dict[str, Any]:
    entry: dict[str, Any] = orjson.loads(raw)
    return entry


def drain_job_id(stream: str) -> str:
    # Unique per enqueue: a finished drain's job hash must never be reused by the next one.
    return f"drain-{keys.stream_digest(stream)}-{secrets.token_hex(6)}"


def submit(
    connection: Redis,
    queue: Queue,
    sub: Submission,
    *,
    dedupe_ttl_s: int,
    policy: JobPolicy,
) -> Outcome:
    """Store ``sub`` durably exactly once. Raises redis errors when Redis cannot take it."""
    marker = keys.notice_marker(sub.notice_id)
    entry = encode_entry(sub)
    if sub.stream is not None:
        fast = _fast_path(connection)(
            keys=[marker, keys.pending(sub.stream), keys.inbox(sub.stream)],
            args=[entry, dedupe_ttl_s],
        )
        if fast == 0:
            return "duplicate"
        if fast == 1:
            return "accepted"
    with connection.pipeline() as pipe:
        while True:
            try:
                if sub.stream is None:
                    pipe.watch(marker)  # type: ignore[no-untyped-call]
                    if pipe.exists(marker):
                        return "duplicate"
                    pipe.multi()
                    pipe.set(marker, 1, ex=dedupe_ttl_s)
                    pipe.lpush(keys.UNROUTED, entry)
                    pipe.ltrim(keys.UNROUTED, 0, UNROUTED_KEEP - 1)
                    pipe.execute()
                    return "accepted"
                pending = keys.pending(sub.stream)
                pipe.watch(marker, pending)  # type: ignore[no-untyped-call]
                seen, drain_pending = pipe.mget(marker, pending)
                if seen is not None:
                    return "duplicate"
                pipe.multi()
                pipe.set(marker, 1, ex=dedupe_ttl_s)
                pipe.rpush(keys.inbox(sub.stream), entry)
                if drain_pending is None:
                    job_id = drain_job_id(sub.stream)
                    pipe.set(pending, job_id)
                    queue.enqueue_call(
                        "workers.drain.drain",
                        args=(sub.stream,),
                        job_id=job_id,
                        timeout=DRAIN_TIMEOUT_S,
                        result_ttl=0,
                        failure_ttl=policy.failure_ttl_s,
                        retry=policy.retry(),
                        description=f"drain {sub.stream}",
                        pipeline=pipe,
                    )
                pipe.execute()
                return "accepted"
            except WatchError:
                continue
