"""Messages and deliveries in Redis: fan-out from the outbox, claims, results, replay.

A delivery is one message at one endpoint. Waiting deliveries sit in the endpoint's ``due``
sorted set scored by when they may be sent; a claim moves the score to the end of a lease
(``NOTIFY_TIMEOUT_S`` plus a margin) and notes the message in ``inflight``. A worker killed
mid-delivery leaves its claim to run out: the delivery is due again, with the same message
id. The result of an attempt removes the claim and either drops the delivery or sets its
next due time, in one transaction.
"""

from __future__ import annotations

from typing import Any

import orjson
from redis import Redis

from workers import keys
from workers.lua import LuaScript
from workers.notify.endpoints import wants

FAN_OUT_BATCH = 100
ATTEMPTS_KEPT = 20
MAX_REPLAY = 10_000
MAX_LOG = 100_000  # messages listed per endpoint, on top of the age limit

_NOW_MS = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) "

# Move one outbox entry to its endpoints, only if it is still in the outbox (so two delivery
# jobs never fan the same message out twice).
# KEYS: outbox, messages, message, then (due, log, delivery) per endpoint.
# ARGV: entry, message id, created ms, retention s, delivery JSON, most messages listed.
FAN_OUT = LuaScript(
    _NOW_MS
    + """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
local created = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
redis.call('SET', KEYS[3], ARGV[1], 'EX', ttl)
redis.call('ZADD', KEYS[2], created, ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl * 1000)
for i = 4, #KEYS, 3 do
  redis.call('ZADD', KEYS[i], now, ARGV[2])
  redis.call('ZADD', KEYS[i + 1], created, ARGV[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[i + 1], '-inf', now - ttl * 1000)
  redis.call('ZREMRANGEBYRANK', KEYS[i + 1], 0, -tonumber(ARGV[6]) - 1)
  redis.call('SET', KEYS[i + 2], ARGV[5], 'EX', ttl)
end
return 1
"""
)

# Claim what is due at one endpoint, within its concurrency limit.
# KEYS: due, inflight. ARGV: limit, lease ms, most to take. Returns the message ids.
CLAIM = LuaScript(
    _NOW_MS
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local free = tonumber(ARGV[1]) - redis.call('ZCARD', KEYS[2])
local n = math.min(free, tonumber(ARGV[3]))
if n <= 0 then return {} end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, n)
local lease = now + tonumber(ARGV[2])
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], lease, id)
  redis.call('ZADD', KEYS[2], lease, id)
end
return ids
"""
)


def new_delivery(message_type: str, created_ms: int) -> dict[str, Any]:
    return {
        "type": message_type,
        "created_ms": created_ms,
        "status": "pending",
        "attempts": [],
        "next_ms": created_ms,
    }


def fan_out(connection: Redis, endpoints: list[dict[str, Any]], retention_s: int) -> int:
    """Move staged messages to every enabled endpoint that wants them; returns how many."""
    raws = connection.lrange(keys.NOTIFY_OUTBOX, 0, FAN_OUT_BATCH - 1)
    moved = 0
    for raw in raws:
        entry = orjson.loads(raw)
        mid, mtype = entry["id"], entry["body"]["type"]
        targets = [e["id"] for e in endpoints if not e["disabled"] and wants(e, mtype)]
        endpoint_keys = []
        for eid in targets:
            endpoint_keys += [
                keys.notify_due(eid),
                keys.notify_log(eid),
                keys.notify_delivery(eid, mid),
            ]
        moved += FAN_OUT.run(
            connection,
            [keys.NOTIFY_OUTBOX, keys.NOTIFY_MESSAGES, keys.notify_message(mid), *endpoint_keys],
            [
                raw,
                mid,
                entry["created_ms"],
                retention_s,
                orjson.dumps(new_delivery(mtype, entry["created_ms"])),
                MAX_LOG,
            ],
        )
    return moved


def claim(connection: Redis, endpoint_id: str, limit: int, lease_ms: int, most: int) -> list[str]:
    ids = CLAIM.run(
        connection,
        [keys.notify_due(endpoint_id), keys.notify_inflight(endpoint_id)],
        [limit, lease_ms, most],
    )
    return keys.members(ids)


def load_message(connection: Redis, message_id: str) -> dict[str, Any] | None:
    raw = connection.get(keys.notify_message(message_id))
    return orjson.loads(raw) if raw else None


def load_delivery(connection: Redis, endpoint_id: str, message_id: str) -> dict[str, Any] | None:
    raw = connection.get(keys.notify_delivery(endpoint_id, message_id))
    return orjson.loads(raw) if raw else None


def load_both(
    connection: Redis, endpoint_id: str, message_id: str
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """A message and its delivery at one endpoint, in one round trip."""
    raw_message, raw_delivery = connection.mget(
        [keys.notify_message(message_id), keys.notify_delivery(endpoint_id, message_id)]
    )
    return (
        orjson.loads(raw_message) if raw_message else None,
        orjson.loads(raw_delivery) if raw_delivery else None,
    )


def record(
    connection: Redis,
    endpoint_id: str,
    message_id: str,
    delivery: dict[str, Any],
    attempt: dict[str, Any],
    retention_s: int,
) -> None:
    """Store an attempt's result and release the claim, in one transaction."""
    delivery["attempts"] = [*delivery["attempts"], attempt][-ATTEMPTS_KEPT:]
    delivery["attempt_count"] = delivery.get("attempt_count", 0) + 1
    counters = keys.notify_endpoint(endpoint_id)
    exists = connection.exists(counters)  # a deleted endpoint is not brought back
    with connection.pipeline() as pipe:
        pipe.zrem(keys.notify_inflight(endpoint_id), message_id)
        if delivery["status"] == "pending" and exists:
            pipe.zadd(keys.notify_due(endpoint_id), {message_id: delivery["next_ms"]})
        else:
            pipe.zrem(keys.notify_due(endpoint_id), message_id)
        pipe.set(
            keys.notify_delivery(endpoint_id, message_id), orjson.dumps(delivery), ex=retention_s
        )
        if exists:
            pipe.hincrby(counters, "attempts", 1)
            if delivery["status"] == "delivered":
                pipe.hincrby(counters, "delivered", 1)
            elif delivery["status"] == "failed":
                pipe.hincrby(counters, "failed", 1)
        pipe.execute()


def next_due_ms(connection: Redis, endpoint_ids: list[str]) -> int | None:
    """The earliest time any endpoint has something due (claims' lease ends included)."""
    with connection.pipeline(transaction=False) as pipe:
        for eid in endpoint_ids:
            pipe.zrange(keys.notify_due(eid), 0, 0, withscores=True)
        firsts = [int(row[0][1]) for row in pipe.execute() if row]
    return min(firsts) if firsts else None


def backlog(connection: Redis, endpoint_ids: list[str]) -> dict[str, int]:
    with connection.pipeline(transaction=False) as pipe:
        for eid in endpoint_ids:
            pipe.zcard(keys.notify_due(eid))
        return dict(zip(endpoint_ids, pipe.execute(), strict=True))


def messages(
    connection: Redis, endpoint_id: str, status: str | None, limit: int
) -> list[dict[str, Any]]:
    """The endpoint's messages with their attempts, newest first."""
    out: list[dict[str, Any]] = []
    start, page = 0, max(limit, 100)
    while len(out) < limit:
        ids = keys.members(
            connection.zrevrange(keys.notify_log(endpoint_id), start, start + page - 1)
        )
        if not ids:
            break
        start += page
        deliveries = connection.mget([keys.notify_delivery(endpoint_id, m) for m in ids])
        bodies = connection.mget([keys.notify_message(m) for m in ids])
        for mid, raw, body in zip(ids, deliveries, bodies, strict=True):
            if raw is None or body is None:
                continue
            delivery = orjson.loads(raw)
            if status is not None and delivery["status"] != status:
                continue
            out.append({"id": mid, **delivery, "payload": orjson.loads(body)["body"]})
            if len(out) >= limit:
                break
    return out


def replay(connection: Redis, endpoint: dict[str, Any], since_ms: int, retention_s: int) -> int:
    """Deliver again, with the same ids, every message since ``since_ms`` the endpoint wants."""
    eid = endpoint["id"]
    ids = keys.members(
        connection.zrangebyscore(keys.NOTIFY_MESSAGES, since_ms, "+inf", start=0, num=MAX_REPLAY)
    )
    queued = 0
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start : chunk_start + 500]
        bodies = connection.mget([keys.notify_message(m) for m in chunk])
        old = connection.mget([keys.notify_delivery(eid, m) for m in chunk])
        with connection.pipeline() as pipe:
            for mid, body, before in zip(chunk, bodies, old, strict=True):
                if body is None:
                    continue
                entry = orjson.loads(body)
                if not wants(endpoint, entry["body"]["type"]):
                    continue
                delivery = new_delivery(entry["body"]["type"], entry["created_ms"])
                if before is not None:
                    delivery["attempts"] = orjson.loads(before)["attempts"]
                delivery["replayed"] = True
                pipe.set(keys.notify_delivery(eid, mid), orjson.dumps(delivery), ex=retention_s)
                pipe.zadd(keys.notify_log(eid), {mid: entry["created_ms"]})
                pipe.zadd(keys.notify_due(eid), {mid: 0})
                queued += 1
            pipe.execute()
    return queued
