"""Redis bytes per tracked session and per queued event."""

from __future__ import annotations

import time

import redis as redis_lib

from bench.payloads import recorder_event
from tests.support.lifecycle import lifecycle
from workers import keys, sessions
from workers.inbox import Submission, encode_entry, submit
from workers.queues import JobPolicy, events_queue

SESSIONS = 500
QUEUED = 10_000


def _used(connection: redis_lib.Redis) -> int:
    return int(connection.info("memory")["used_memory"])


def run(redis_url: str) -> dict[str, float]:
    connection = redis_lib.Redis.from_url(redis_url)
    connection.flushdb()
    policy = JobPolicy(600, ())
    before = _used(connection)
    for i in range(SESSIONS):
        for event in lifecycle(f"mem-{i:04d}", uids=("1", "2", "3")):
            sub = Submission(event["noticeId"], f"s:mem-{i:04d}", event, 0)
            submit(connection, events_queue(connection), sub, dedupe_ttl_s=600, policy=policy)
    marker_keys = connection.keys(f"{keys.PREFIX}notice:*")
    markers = len(marker_keys)
    connection.delete(*marker_keys)
    connection.delete(*connection.keys("rq:*"))
    for i in range(SESSIONS):
        sessions.drain_session(connection, f"mem-{i:04d}", retention_s=3600)
    per_session = (_used(connection) - before) / SESSIONS

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
        "bytes_per_session": per_session,
        "events_per_session": markers / SESSIONS,
        "bytes_per_queued_event": per_event,
        "bytes_per_dedupe_marker": per_marker,
    }
