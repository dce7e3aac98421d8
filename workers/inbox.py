"""The per-stream inbox: the one atomic step that acknowledges a callback.

A *stream* is whose events must be applied in order: ``s:<sid>`` for a recording session,
``c:<channel>`` for RTC channel events. Ingest appends the event to its stream's inbox, puts
a stream that is not yet waiting on the ready list, and adds a drain job only when fewer
than ``max_drainers`` exist (``workers.drainers``). Marker, event, ready entry and job are
written in one atomic step (a script, or MULTI/EXEC when a job is added), so no crash can
separate them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from redis import Redis, RedisError, WatchError
from redis.exceptions import NoScriptError
from rq import Queue

from workers import keys
from workers.drainers import add_drainer, redis_now_ms
from workers.lua import LuaScript
from workers.queues import JobPolicy

# Events no stream takes (other products) are kept newest first, for inspection only, up to
# this many and this many bytes of entries: a flood of large bodies cannot fill Redis.
UNROUTED_KEEP = 10_000
UNROUTED_KEEP_BYTES = 16 * 1024 * 1024
PROBE_TTL_S = 60
Outcome = Literal["accepted", "duplicate"]

# The fast path, one round trip, taken unless a drain job must be added: marker, event and,
# for a stream not yet waiting, its place in the ready list.
# KEYS: marker, pending flag, inbox, ready list, drain-job leases.
# ARGV: entry, marker TTL, stream, most drain jobs.
# Returns 0 duplicate, 1 accepted, 2 a drain job is needed (take the transaction path).
_FAST_PATH = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local waiting = redis.call('EXISTS', KEYS[2]) == 1
if not waiting then
  local t = redis.call('TIME')
  local now = t[1] * 1000 + math.floor(t[2] / 1000)
  if redis.call('ZCOUNT', KEYS[5], now, '+inf') < tonumber(ARGV[4]) then return 2 end
end
redis.call('SET', KEYS[1], 1, 'EX', ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[1])
if not waiting then
  redis.call('SET', KEYS[2], 1)
  redis.call('RPUSH', KEYS[4], ARGV[3])
end
return 1
"""
FAST_PATH = LuaScript(_FAST_PATH)

# KEYS: marker, unrouted list, its byte count. ARGV: entry, marker TTL, most entries, most
# bytes. Returns 0 duplicate, 1 accepted. The oldest entries go first once over a cap.
_UNROUTED = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], 1, 'EX', ARGV[2])
redis.call('LPUSH', KEYS[2], ARGV[1])
local bytes = redis.call('INCRBY', KEYS[3], string.len(ARGV[1]))
local count = redis.call('LLEN', KEYS[2])
while count > 1 and (count > tonumber(ARGV[3]) or bytes > tonumber(ARGV[4])) do
  bytes = redis.call('DECRBY', KEYS[3], string.len(redis.call('RPOP', KEYS[2])))
  count = count - 1
end
return 1
"""
UNROUTED = LuaScript(_UNROUTED)


class NotReplicated(RedisError):
    """Stored on the primary, but fewer replicas than asked acknowledged it in time."""


@dataclass(frozen=True)
class Replication:
    """``REDIS_MIN_REPLICAS`` / ``REDIS_WAIT_TIMEOUT_MS``: 0 replicas asks for no WAIT."""

    min_replicas: int = 0
    timeout_ms: int = 250


NO_REPLICATION = Replication()


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
    max_drainers: int = 2,
    replication: Replication = NO_REPLICATION,
) -> Outcome:
    """Store ``sub`` durably exactly once. Raises redis errors when Redis cannot take it,
    and ``NotReplicated`` when it is stored but not yet on ``replication.min_replicas``
    replicas (the resent callback then finds it a duplicate, and waits again)."""
    if replication.min_replicas == 0:
        plain = _submit(connection, queue, sub, dedupe_ttl_s, policy, max_drainers, None)
        assert plain is not None, "only a WAITed fast path answers None"
        return plain
    outcome = _submit(connection, queue, sub, dedupe_ttl_s, policy, max_drainers, replication)
    if outcome is None:  # the fast path stored it and WAIT already answered
        return "accepted"
    confirm_replicated(connection, replication)
    return outcome


def confirm_replicated(connection: Redis, replication: Replication) -> None:
    """Raise ``NotReplicated`` unless everything written so far, by any client, is on
    enough replicas: a fresh write first moves this connection's offset past them all."""
    with connection.pipeline(transaction=False) as pipe:
        pipe.set(keys.REPLICATION_PROBE, 1, ex=PROBE_TTL_S)
        pipe.wait(replication.min_replicas, replication.timeout_ms)
        acknowledged = int(pipe.execute()[-1])
    if acknowledged < replication.min_replicas:
        raise NotReplicated(f"{acknowledged} of {replication.min_replicas} replicas acknowledged")


def _fast_path_and_wait(
    connection: Redis, stream_keys: list[str], args: list[Any], replication: Replication
) -> int | None:
    """The fast path and WAIT in one round trip (one connection, so WAIT covers the
    script's writes). Returns the script's answer, or None when it stored the event and
    enough replicas acknowledged it."""
    with connection.pipeline(transaction=False) as pipe:
        pipe.evalsha(FAST_PATH.sha, len(stream_keys), *stream_keys, *args)
        pipe.wait(replication.min_replicas, replication.timeout_ms)
        fast, acknowledged = pipe.execute(raise_on_error=False)
    if isinstance(fast, NoScriptError):  # a restarted or failed-over Redis forgot it
        return int(FAST_PATH.run(connection, stream_keys, args))
    if isinstance(fast, Exception):
        raise fast
    if int(fast) != 1:
        return int(fast)
    if isinstance(acknowledged, Exception):
        raise acknowledged
    if int(acknowledged) < replication.min_replicas:
        raise NotReplicated(f"{acknowledged} of {replication.min_replicas} replicas acknowledged")
    return None


def _submit(
    connection: Redis,
    queue: Queue,
    sub: Submission,
    dedupe_ttl_s: int,
    policy: JobPolicy,
    max_drainers: int,
    replication: Replication | None,
) -> Outcome | None:
    marker = keys.notice_marker(sub.notice_id)
    entry = encode_entry(sub)
    if sub.stream is None:
        return _store_unrouted(connection, marker, entry, dedupe_ttl_s)
    stream_keys = [
        marker,
        keys.pending(sub.stream),
        keys.inbox(sub.stream),
        keys.READY,
        keys.DRAINERS,
    ]
    args: list[Any] = [entry, dedupe_ttl_s, sub.stream, max_drainers]
    if replication is None:
        fast = int(FAST_PATH.run(connection, stream_keys, args))
    else:
        answer = _fast_path_and_wait(connection, stream_keys, args, replication)
        if answer is None:
            return None
        fast = answer
    if fast == 0:
        return "duplicate"
    if fast == 1:
        return "accepted"
    with connection.pipeline() as pipe:
        while True:
            try:
                pipe.watch(marker, keys.pending(sub.stream), keys.DRAINERS)  # type: ignore[no-untyped-call]
                seen, waiting = pipe.mget(marker, keys.pending(sub.stream))
                if seen is not None:
                    return "duplicate"
                now_ms = redis_now_ms(pipe)
                live = pipe.zcount(keys.DRAINERS, now_ms, "+inf")
                pipe.multi()
                pipe.set(marker, 1, ex=dedupe_ttl_s)
                pipe.rpush(keys.inbox(sub.stream), entry)
                if waiting is None:
                    pipe.set(keys.pending(sub.stream), 1)
                    pipe.rpush(keys.READY, sub.stream)
                    if live < max_drainers:
                        add_drainer(pipe, queue, policy, now_ms)
                pipe.execute()
                return "accepted"
            except WatchError:
                continue


def _store_unrouted(connection: Redis, marker: str, entry: bytes, dedupe_ttl_s: int) -> Outcome:
    """Events no stream takes (other products): kept in a list capped by count and bytes."""
    stored = UNROUTED.run(
        connection,
        [marker, keys.UNROUTED, keys.unrouted_bytes()],
        [entry, dedupe_ttl_s, UNROUTED_KEEP, UNROUTED_KEEP_BYTES],
    )
    return "accepted" if int(stored) == 1 else "duplicate"
