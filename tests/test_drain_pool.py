"""The drain pool's shifts: a drain job gives its worker up only when another job waits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis as redis_lib
from rq import Queue

from tests.support.ncs import recording_event
from tests.support.workers import run_burst
from workers import drain, keys, sessions
from workers.drainers import spawn
from workers.inbox import Submission, encode_entry
from workers.queues import CONTROL_QUEUE, JobPolicy, events_queue

SIDS = ("pool-a", "pool-b", "pool-c")
ran: list[str] = []


def control_job() -> None:
    ran.append("control")


def stage_ready_streams(redis: redis_lib.Redis) -> None:
    """Three sessions with one queued event each, waiting on the ready list."""
    for sid in SIDS:
        event = recording_event(40, sid=sid)
        stream = "s:" + sid
        redis.rpush(
            keys.inbox(stream), encode_entry(Submission(event["noticeId"], stream, event, 0))
        )
        redis.set(keys.pending(stream), 1)
        redis.rpush(keys.READY, stream)


@pytest.fixture
def every_stream_ends_a_shift(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Shifts of zero length, and a record of each stream drained and each handover."""
    ran.clear()
    monkeypatch.setattr(drain, "shift_length_s", lambda: 0.0)
    original_drain: Callable[..., int] = drain.drain_stream
    original_replace: Callable[..., str] = drain.replace

    def drain_stream(*args: Any) -> int:
        ran.append(args[2])
        return original_drain(*args)

    def replace(*args: Any) -> str:
        ran.append("handover")
        return original_replace(*args)

    monkeypatch.setattr(drain, "drain_stream", drain_stream)
    monkeypatch.setattr(drain, "replace", replace)
    return ran


def test_with_nothing_waiting_one_drain_job_keeps_its_worker(
    redis: redis_lib.Redis, every_stream_ends_a_shift: list[str]
) -> None:
    stage_ready_streams(redis)
    spawn(redis, events_queue(redis), JobPolicy(600, ()))
    run_burst(redis)
    assert every_stream_ends_a_shift == [f"s:{sid}" for sid in SIDS]
    assert all(sessions.load(redis, sid) for sid in SIDS)


def test_a_waiting_control_job_gets_the_worker_before_the_next_drain(
    redis: redis_lib.Redis, every_stream_ends_a_shift: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stage_ready_streams(redis)
    spawn(redis, events_queue(redis), JobPolicy(600, ()))
    drain_once: Callable[..., int] = drain.drain_stream

    def drain_then_queue_control(*args: Any) -> int:
        if "control" not in ran and ran.count("handover") == 0:
            Queue(CONTROL_QUEUE, connection=redis).enqueue(control_job)
        return drain_once(*args)

    monkeypatch.setattr(drain, "drain_stream", drain_then_queue_control)
    run_burst(redis)
    assert every_stream_ends_a_shift == [
        "s:pool-a",
        "handover",  # a job waits: the shift ends here
        "control",  # the control queue is taken before the successor drain job
        "s:pool-b",
        "s:pool-c",  # the control job is done: nothing waits, the successor keeps going
    ]
    assert all(sessions.load(redis, sid) for sid in SIDS)


def test_a_redis_that_forgot_the_scripts_still_drains_and_clears_the_flag(
    redis: redis_lib.Redis,
) -> None:
    stage_ready_streams(redis)
    for sid in SIDS:
        redis.script_flush()  # as after a Redis restart: the drain's scripts are unknown
        drained = sessions.drain_session(redis, sid, retention_s=3600)
        assert drained.taken == 1 and drained.session is not None
        assert redis.llen(keys.inbox("s:" + sid)) == 0
        assert not redis.exists(keys.pending("s:" + sid))  # the next event will be drained
