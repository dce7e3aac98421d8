"""Redis bytes per acknowledged callback, per marker, per live and per finished session."""

from __future__ import annotations

import time

import redis as redis_lib

from bench.payloads import recorder_event
from tests.support.lifecycle import lifecycle
from workers import compaction, keys, sessions
from workers.inbox import Submission, encode_entry, submit
from workers.queues import JobPolicy, events_queue

SESSIONS = 500
QUEUED = 10_000
RETENTION_S = 30 * 24 * 3600


def _used(connection: redis_lib.Redis) -> int:
    return int(connection.info("memory")["used_memory"])


def _sid(i: int) -> str:
    return f"{i:08d}" + "5d1c0ffee5d1c0ffee5d1c0f"  # 32 characters, like Agora's sids


def _sessions(connection: redis_lib.Redis, events_each: int | None) -> float:
    """Bytes per session (its keys and index entries, not its markers) after applying the
    first ``events_each`` events of a whole 16-event lifecycle (all when None)."""
    connection.flushdb()
    policy = JobPolicy(600, ())
    before = _used(connection)
    for i in range(SESSIONS):
        sid = _sid(i)
        for event in lifecycle(sid, uids=("1", "2", "3"))[:events_each]:
            sub = Submission(event["noticeId"], f"s:{sid}", event, int(time.time() * 1000))
            submit(connection, events_queue(connection), sub, dedupe_ttl_s=600, policy=policy)
    connection.delete(*connection.keys(f"{keys.PREFIX}notice:*"))
    connection.delete(*connection.keys("rq:*"))
    for i in range(SESSIONS):
        sessions.drain_session(connection, _sid(i), retention_s=RETENTION_S)
    return (_used(connection) - before) / SESSIONS


def run(redis_url: str) -> dict[str, float]:
    connection = redis_lib.Redis.from_url(redis_url)
    live = _sessions(connection, 8)
    finished = _sessions(connection, None)
    before = _used(connection)
    compaction.compact_due(connection, now_s=time.time() + 10 * compaction.COMPACT_AFTER_S)
    compacted = finished + (_used(connection) - before) / SESSIONS

    connection.flushdb()
    connection.set(keys.pending("s:q"), "job")
    before = _used(connection)
    now = int(time.time() * 1000)
    queued = [recorder_event("queued-sid", i, now) for i in range(QUEUED)]
    pipe = connection.pipeline(transaction=False)
    for event in queued:
        pipe.rpush(keys.inbox("s:q"), encode_entry(Submission(event["noticeId"], "s:q", event, 0)))
    pipe.execute()
    per_event = (_used(connection) - before) / QUEUED
    before = _used(connection)
    for event in queued:
        pipe.set(keys.notice_marker(event["noticeId"]), 1, ex=600)
    pipe.execute()
    per_marker = (_used(connection) - before) / QUEUED
    return {
        "per_acknowledged_callback": per_event + per_marker,
        "per_marker": per_marker,
        "per_live_session": live,
        "per_finished_session": finished,
        "per_finished_session_compacted": compacted,
    }
