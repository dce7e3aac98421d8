"""Sessions built in Redis from any arrival order, with resends and redundant copies."""

from __future__ import annotations

import random
from typing import Any

import redis as redis_lib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.lifecycle import lifecycle, with_resends
from tests.support.ncs import recording_event
from tests.support.workers import run_burst
from workers import keys, session_queries, sessions, transitions
from workers.inbox import Submission, submit
from workers.queues import JobPolicy, events_queue

RETENTION_S = 3600


def feed(redis: redis_lib.Redis, event: dict[str, Any]) -> str:
    sub = Submission(event["noticeId"], "s:" + event["payload"]["sid"], event, 1)
    return submit(redis, events_queue(redis), sub, dedupe_ttl_s=60, policy=JobPolicy(60, (1,)))


def serial(events: list[dict[str, Any]]) -> dict[str, Any]:
    distinct = {transitions.event_identity(e): e for e in events}
    session = transitions.fold(distinct.values())
    assert session is not None
    return session


LIFECYCLE = lifecycle("PROP", uids=("11", "22"), failover=True)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32), drain_every=st.integers(1, 8))
def test_every_arrival_order_converges(redis: redis_lib.Redis, seed: int, drain_every: int) -> None:
    redis.flushdb()
    stream = with_resends(LIFECYCLE, random.Random(seed), share=0.5)
    for i, event in enumerate(stream, 1):
        feed(redis, event)
        if i % drain_every == 0:
            sessions.drain_session(redis, "PROP", retention_s=RETENTION_S)
    sessions.drain_session(redis, "PROP", retention_s=RETENTION_S)
    assert sessions.load(redis, "PROP") == serial(LIFECYCLE)
    timeline = session_queries.session_events(redis, "PROP")
    assert [e["sequence"] for e in timeline] == list(range(len(LIFECYCLE)))
    assert redis.exists(keys.pending("s:PROP"), keys.inbox("s:PROP")) == 0


def test_final_state_and_indexes(redis: redis_lib.Redis) -> None:
    for event in lifecycle("IDX", cname="hall"):
        feed(redis, event)
    run_burst(redis)
    session = sessions.load(redis, "IDX")
    assert session is not None and session["state"] == "exited"
    assert session["upload_status"] == "uploaded"
    assert redis.zscore(keys.sessions_by_state("exited"), "IDX") is not None
    assert redis.zscore(keys.sessions_by_state("recording"), "IDX") is None
    assert redis.zscore(keys.sessions_by_cname("hall"), "IDX") is not None
    assert 0 < redis.ttl(keys.session("IDX")) <= 30 * 24 * 3600


def test_late_recorder_started_after_exit_changes_nothing(redis: redis_lib.Redis) -> None:
    feed(redis, recording_event(11, sid="LATE", sequence=5))
    sessions.drain_session(redis, "LATE", retention_s=RETENTION_S)
    feed(redis, recording_event(40, sid="LATE", sequence=1))
    sessions.drain_session(redis, "LATE", retention_s=RETENTION_S)
    session = sessions.load(redis, "LATE")
    assert session is not None
    assert session["state"] == "exited"
    assert session["sequence_gaps"] == [[0, 0], [2, 4]]


def test_upload_advances_after_exit(redis: redis_lib.Redis) -> None:
    feed(redis, recording_event(11, sid="UP", sequence=3))
    sessions.drain_session(redis, "UP", retention_s=RETENTION_S)
    feed(redis, recording_event(31, sid="UP", sequence=4))
    sessions.drain_session(redis, "UP", retention_s=RETENTION_S)
    session = sessions.load(redis, "UP")
    assert session is not None
    assert (session["state"], session["upload_status"]) == ("exited", "uploaded")


def test_unknown_type_is_on_the_timeline_but_makes_no_session(redis: redis_lib.Redis) -> None:
    event = recording_event(40, sid="UNK")
    event["eventType"] = 13
    feed(redis, event)
    sessions.drain_session(redis, "UNK", retention_s=RETENTION_S)
    assert sessions.load(redis, "UNK") is None
    (shown,) = session_queries.session_events(redis, "UNK")
    assert (shown["eventType"], shown["known"]) == (13, False)


def test_expired_sessions_leave_the_indexes(redis: redis_lib.Redis) -> None:
    for event in lifecycle("OLD"):
        feed(redis, event)
    sessions.drain_session(redis, "OLD", retention_s=RETENTION_S)
    redis.delete(keys.session("OLD"))  # what Redis does when the retention TTL runs out
    assert session_queries.sweep_expired(redis, now_s=10**12) == 1
    assert redis.zscore(keys.SESSIONS_ALL, "OLD") is None
    assert redis.zscore(keys.sessions_by_state("exited"), "OLD") is None
