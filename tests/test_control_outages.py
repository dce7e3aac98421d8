"""Recording control on Agora's bad days, end to end: real Redis, real worker processes,
the emulator over HTTP."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_lib
from rq import Worker

from tests.support.emulated import Emulated, run_emulated
from workers import jobs, keys

pytestmark = pytest.mark.integration

POLL_S = 1


@pytest.fixture
def emulated(redis_url: str, redis: redis_lib.Redis) -> Iterator[Emulated]:
    with run_emulated(redis_url, RECORDING_POLL_S=str(POLL_S)) as running:
        yield running


def calls(emulated: Emulated) -> tuple[float, list[dict[str, Any]]]:
    answer = emulated.http.get(f"{emulated.emulator}/_emulator/calls", timeout=5).json()
    return float(answer["now"]), list(answer["calls"])


def queries(emulated: Emulated, sid: str, since: float, until: float) -> list[dict[str, Any]]:
    _, logged = calls(emulated)
    return [
        c
        for c in logged
        if c["endpoint"] == "query" and c["sid"] == sid and since <= c["t"] < until
    ]


def emulator_time_after(emulated: Emulated, moment: float) -> None:
    emulated.wait_for(
        "the emulator's clock", lambda: calls(emulated)[0] >= moment, timeout_s=moment + 60
    )


def test_poll_rate_returns_to_one_per_interval_after_a_query_outage(emulated: Emulated) -> None:
    emulated.faults(drops=1.0)  # a silent session: polls are all recbridge knows of it
    asked = emulated.api("POST", "/api/recordings", json={"cname": "storm", "uids": ["4"]})
    recording = asked.json()
    sid = emulated.recording_in(recording["id"], "active")["sid"]
    emulated.wait_for("start confirmed", lambda: emulated.recording(recording["id"])["confirmed"])
    answer = emulated.http.post(
        f"{emulated.emulator}/_emulator/outage", json={"endpoint": "query", "seconds": 20}
    )
    assert answer.ok, answer.text
    began, _ = calls(emulated)
    ended = began + 20
    emulator_time_after(emulated, ended + 13)
    failed = [c for c in queries(emulated, sid, began, ended) if c["status"] == 503]
    assert failed  # the outage was seen
    # Three intervals to settle, then ten: one poll per interval, not a storm.
    after = queries(emulated, sid, ended + 3, ended + 13)
    assert 10 / (POLL_S + 1) <= len(after) <= 10 / POLL_S + 1, after
    assert all(c["status"] == 200 for c in after)

    emulated.api("POST", f"/api/recordings/{recording['id']}/stop")
    emulated.recording_in(recording["id"], "stopped")
    stopped_at, _ = calls(emulated)
    emulator_time_after(emulated, stopped_at + 5 * POLL_S)
    assert queries(emulated, sid, stopped_at, stopped_at + 5 * POLL_S) == []


def running_job_pid(redis: redis_lib.Redis, func: str) -> int | None:
    for worker in Worker.all(connection=redis):
        job = worker.get_current_job()
        if job is not None and job.func_name == func:
            return worker.pid
    return None


def test_a_worker_killed_inside_start_leaves_one_live_session_tracked(
    emulated: Emulated, redis: redis_lib.Redis
) -> None:
    # The start reaches Agora (the session runs) but its answer comes late...
    slow = {"endpoint": "start", "delay_s": 8, "count": 1}
    assert emulated.http.post(f"{emulated.emulator}/_emulator/slow", json=slow).ok
    recording = emulated.api("POST", "/api/recordings", json={"cname": "killed"}).json()
    live = emulated.wait_for(
        "the session at Agora",
        lambda: [
            sid
            for sid, s in emulated.stats()["sessions"].items()
            if s["cname"] == "killed" and s["state"] != "ended"
        ],
    )
    # ...and the worker waiting for it dies.
    pid = emulated.wait_for("the start job", lambda: running_job_pid(redis, jobs.RUN_START.func))
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    active = emulated.recording_in(recording["id"], "active", timeout_s=20)
    assert time.monotonic() - killed_at < 20
    assert active["sids"] == live and active["restarts"] == 0  # adopted, not started again
    sessions = emulated.stats()["sessions"]
    assert [sid for sid, s in sessions.items() if s["cname"] == "killed"] == live
    assert emulated.session_in(live[0], "recording")["recording_id"] == recording["id"]
    assert redis.zcard(keys.CONTROL_LEASES) <= 1  # the dead job's lease is gone


def test_a_domain_that_is_down_moves_calls_to_the_backup(redis_url: str) -> None:
    with run_emulated(redis_url, workers=1, two_domains=True) as emulated:
        down = {"host": "localhost", "seconds": 600}
        assert emulated.http.post(f"{emulated.emulator}/_emulator/outage", json=down).ok
        recording = emulated.api("POST", "/api/recordings", json={"cname": "domains"}).json()
        active = emulated.recording_in(recording["id"], "active")
        assert active["restarts"] == 0
        _, logged = calls(emulated)
        hosts = [(c["endpoint"], c["host"], c["status"]) for c in logged]
        # Tried once more on the primary, then the backup, inside the same acquire.
        assert hosts[:3] == [
            ("acquire", "localhost", 503),
            ("acquire", "localhost", 503),
            ("acquire", "127.0.0.1", 200),
        ]
        assert ("start", "127.0.0.1", 200) in hosts


def test_a_worker_killed_inside_stop_is_resumed_and_the_recording_stops(
    emulated: Emulated, redis: redis_lib.Redis
) -> None:
    recording = emulated.api("POST", "/api/recordings", json={"cname": "stopkill"}).json()
    sid = emulated.recording_in(recording["id"], "active")["sid"]
    slow = {"endpoint": "stop", "delay_s": 8, "count": 1}
    assert emulated.http.post(f"{emulated.emulator}/_emulator/slow", json=slow).ok
    emulated.api("POST", f"/api/recordings/{recording['id']}/stop")
    pid = emulated.wait_for("the stop job", lambda: running_job_pid(redis, jobs.RUN_STOP.func))
    os.kill(pid, signal.SIGKILL)  # Agora took the stop; its answer never arrives
    killed_at = time.monotonic()
    stopped = emulated.recording_in(recording["id"], "stopped", timeout_s=20)
    assert time.monotonic() - killed_at < 20
    assert stopped["sids"] == [sid]
    assert emulated.stats()["sessions"][sid]["state"] == "ended"
