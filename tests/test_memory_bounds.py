"""The bounds of the memory budget, key family by key family (``workers.keys.BUDGET``)."""

from __future__ import annotations

import pytest
import redis as redis_lib

from tests.support.lifecycle import lifecycle
from tests.support.ncs import channel_event, recording_event
from workers import compaction, inbox, keys, recordings, session_queries, sessions
from workers.inbox import Submission, submit
from workers.queues import JobPolicy, events_queue

RETENTION_S = 3600
POLICY = JobPolicy(60, (1,))


def feed(redis: redis_lib.Redis, event: dict, stream: str | None) -> str:  # type: ignore[type-arg]
    sub = Submission(event["noticeId"], stream, event, 1)
    return submit(redis, events_queue(redis), sub, dedupe_ttl_s=60, policy=POLICY)


def test_unrouted_events_are_capped_by_bytes(
    redis: redis_lib.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbox, "UNROUTED_KEEP_BYTES", 20_000)
    for i in range(40):
        event = channel_event(101, notice_id=f"other-{i}", channelName="c" * 1000)
        event["productId"] = 42
        assert feed(redis, event, None) == "accepted"
    entries = redis.lrange(keys.UNROUTED, 0, -1)
    held = sum(len(e) for e in entries)
    assert held <= 20_000 < held + len(entries[0])  # full, and the newest kept
    assert int(redis.get(keys.unrouted_bytes()) or 0) == held
    assert b"other-39" in entries[0]
    assert feed(redis, event, None) == "duplicate"


def test_live_sessions_and_unknown_only_timelines_expire(redis: redis_lib.Redis) -> None:
    feed(redis, recording_event(40, sid="LIVE", cname="hall"), "s:LIVE")
    unknown = recording_event(40, sid="GHOST")
    unknown["eventType"] = 977
    feed(redis, unknown, "s:GHOST")
    for sid in ("LIVE", "GHOST"):
        sessions.drain_session(redis, sid, retention_s=RETENTION_S)
    assert sessions.load(redis, "LIVE")["state"] == "recording"  # type: ignore[index]
    for key in (keys.session("LIVE"), keys.timeline("LIVE"), keys.timeline("GHOST")):
        assert 0 < redis.ttl(key) <= RETENTION_S, key
    assert 0 < redis.ttl(keys.sessions_by_cname("hall")) <= RETENTION_S


def test_sweep_drops_expired_sessions_from_every_index(redis: redis_lib.Redis) -> None:
    for sid in ("OLD", "LIVE"):
        for event in lifecycle(sid, cname="hall")[:3]:  # never finished
            feed(redis, event, "s:" + sid)
        sessions.drain_session(redis, sid, retention_s=RETENTION_S)
    redis.delete(keys.session("OLD"))  # what Redis does when the retention TTL runs out
    assert session_queries.sweep_expired(redis, now_s=10**12) == 1
    for index in (
        keys.SESSIONS_ALL,
        keys.sessions_by_state("recording"),
        keys.sessions_by_cname("hall"),
    ):
        assert redis.zscore(index, "OLD") is None, index
        assert redis.zscore(index, "LIVE") is not None, index
    assert redis.zcard(keys.SESSIONS_EXPIRY) == 1


def test_recordings_expire_and_leave_every_index(redis: redis_lib.Redis) -> None:
    old, _ = recordings.create(redis, recordings.new_recording("hall", None, 300, "api"))
    recordings.update(redis, old["id"], lambda r: r.update(state=recordings.STOPPED))
    live, _ = recordings.create(redis, recordings.new_recording("hall", None, 300, "api"))
    for key in (
        keys.recording(old["id"]),
        keys.recording(live["id"]),
        keys.active_recording("hall"),
        keys.recordings_by_cname("hall"),
    ):
        assert 0 < redis.ttl(key) <= recordings.RETENTION_S, key
    redis.delete(keys.recording(old["id"]))  # its retention ran out
    assert session_queries.sweep_expired(redis, now_s=10**12) == 1
    for index in (
        keys.RECORDINGS_ALL,
        keys.recordings_by_state(recordings.STOPPED),
        keys.recordings_by_cname("hall"),
    ):
        assert redis.zscore(index, old["id"]) is None, index
    assert redis.zscore(keys.recordings_by_cname("hall"), live["id"]) is not None


def test_every_key_name_belongs_to_one_family() -> None:
    for name in (
        keys.notice_marker("n"),
        keys.session_link("s"),
        keys.active_recording("c"),
        keys.unrouted_bytes(),
        keys.draining("job"),
    ):
        family = keys.family_of(name)
        assert family is not None and family.owner, name
    assert keys.family_of(keys.session_link("s")).bound == keys.EXPIRES  # type: ignore[union-attr]
    assert keys.family_of("someone-else:key") is None


def finished_session(redis: redis_lib.Redis, sid: str) -> list[dict]:  # type: ignore[type-arg]
    events = lifecycle(sid, cname="hall")
    for event in events:
        feed(redis, event, "s:" + sid)
    sessions.drain_session(redis, sid, retention_s=RETENTION_S)
    return events


def test_finished_sessions_are_compacted_to_what_the_api_shows(redis: redis_lib.Redis) -> None:
    sid = "38f8e3cfdc474cd56fc1ceba380d7e1a"  # as long as Agora's
    events = finished_session(redis, sid)
    assert len(events) == 16
    shown = session_queries.session_events(redis, sid)
    session = sessions.load(redis, sid)
    assert compaction.compact_due(redis) == 0  # not yet: it may still change
    assert compaction.compact_due(redis, now_s=10**12, budget_s=0) == 0  # out of time
    assert compaction.compact_due(redis, now_s=10**12) == 1
    assert session_queries.session_events(redis, sid) == [{**e, "payload": None} for e in shown]
    assert sessions.load(redis, sid) == session
    listed = session_queries.list_sessions(redis, state="exited", cname="hall", limit=5)
    assert listed == [session]
    assert redis.exists(keys.timeline(sid)) == 0  # one key holds it all
    assert int(redis.memory_usage(keys.session(sid)) or 0) <= 2048
    assert 0 < redis.pttl(keys.session(sid)) <= RETENTION_S * 1000
    assert redis.zcard(keys.sessions_compact()) == 0


def test_events_after_compaction_are_still_recognised(redis: redis_lib.Redis) -> None:
    events = finished_session(redis, "AFTER")
    compaction.compact_due(redis, now_s=10**12)
    session = sessions.load(redis, "AFTER")
    copy = {**events[5], "noticeId": "redundant-copy"}  # Agora's redundant copy: same identity
    feed(redis, copy, "s:AFTER")
    sessions.drain_session(redis, "AFTER", retention_s=RETENTION_S)
    assert sessions.load(redis, "AFTER") == session
    late = recording_event(1, sid="AFTER", cname="hall", sequence=3)  # a gap filled late
    del session  # the late error is applied on top of the compacted session
    feed(redis, late, "s:AFTER")
    sessions.drain_session(redis, "AFTER", retention_s=RETENTION_S)
    errors = sessions.load(redis, "AFTER")["errors"]  # type: ignore[index]
    assert [e["code"] for e in errors] == [47]
    assert len(session_queries.session_events(redis, "AFTER")) == 17
