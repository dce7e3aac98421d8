"""The worker process as a process manager sees it: stopped, it hands its work over at once;
killed outright, it leaves nothing behind."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import redis as redis_lib
from rq import Queue

from tests.support import processes
from tests.support.ncs import recording_event
from tests.support.processes import child_pids, wait_until
from tests.support.workers import run_burst
from workers import keys, sessions
from workers.drainers import spawn
from workers.inbox import Submission, encode_entry
from workers.queues import EVENTS_QUEUE, JobPolicy, events_queue
from workers.worker_class import RecbridgeWorker

pytestmark = pytest.mark.integration
STREAMS = 5_000


def running(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has ended; only its parent's wait is missing


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_a_killed_worker_takes_its_rq_scheduler_with_it(redis_url: str) -> None:
    worker = processes.start("worker", {"REDIS_URL": redis_url})
    scheduler = None
    try:
        wait_until(lambda: child_pids(worker.pid), 30, "RQ's scheduler starting")
        (scheduler,) = child_pids(worker.pid)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        wait_until(lambda: not running(scheduler), 10, "RQ's scheduler ending with its worker")
    finally:
        processes.stop(worker)
        if scheduler is not None and running(scheduler):
            os.kill(scheduler, signal.SIGKILL)  # leave no orphan behind a failed test


def test_a_warm_shutdown_hands_the_drain_over_at_once(redis_url: str) -> None:
    connection = redis_lib.Redis.from_url(redis_url)
    connection.flushdb()
    streams = [f"s:shutdown-{i:05d}" for i in range(STREAMS)]
    with connection.pipeline() as pipe:  # far more work than a few seconds can drain
        for stream in streams:
            event = recording_event(40, sid=stream[2:])
            pipe.rpush(keys.inbox(stream), encode_entry(Submission("n", stream, event, 0)))
            pipe.set(keys.pending(stream), 1)
            pipe.rpush(keys.READY, stream)
        pipe.execute()
    worker = processes.start("worker", {"REDIS_URL": redis_url})
    try:
        spawn(connection, events_queue(connection), JobPolicy(600, ()))
        wait_until(lambda: connection.llen(keys.READY) < STREAMS - 20, 30, "a drain starting")
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=10)  # RQ's warm shutdown: after the current job
        assert worker.returncode == 0
    finally:
        processes.stop(worker)
    left = connection.llen(keys.READY)
    assert left > 0, "the drain job ran to the end instead of handing over"
    successors = Queue(EVENTS_QUEUE, connection=connection)
    assert successors.count == 1  # the successor waits for the next worker...
    run_burst(connection)  # ...which drains everything that was left
    assert connection.llen(keys.READY) == 0
    assert all(sessions.load(connection, stream[2:]) for stream in streams[:: STREAMS // 10])


def test_an_idle_worker_stops_on_sigterm(redis_url: str) -> None:
    worker = processes.start("worker", {"REDIS_URL": redis_url})
    try:
        wait_until(lambda: child_pids(worker.pid), 30, "RQ's scheduler starting")
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)  # a deadline, not a speed: not restarted as if RQ had stopped
        assert worker.returncode == 0
        out, err = processes.output(worker)
        assert "worker.stopped_unasked" not in out + err
    finally:
        processes.stop(worker)


def test_a_stop_while_the_worker_starts_is_a_warm_shutdown(redis_url: str) -> None:
    """RQ installs its signal handlers only after forking its scheduler; a SIGTERM before
    then used to kill the worker outright (-15): the cause of this test's old flakiness."""
    for _ in range(3):
        worker = processes.start("worker", {"REDIS_URL": redis_url})
        try:
            # The first line RQ writes comes before its scheduler and its signal handlers.
            wait_until(lambda: "started with PID" in "".join(processes.output(worker)), 30, "RQ")
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
            assert worker.returncode == 0, processes.output(worker)[1][-2000:]
        finally:
            processes.stop(worker)


@pytest.mark.parametrize("process", ["worker", "clock"])
def test_a_wrong_setting_stops_the_process_in_one_line(redis_url: str, process: str) -> None:
    started = processes.start(process, {"REDIS_URL": redis_url, "LOG_LEVEL": "LOUD"})
    try:
        started.wait(timeout=30)
        assert started.returncode == 1
        _out, err = processes.output(started)
        lines = [line for line in err.splitlines() if line.startswith("recbridge: cannot start")]
        assert len(lines) == 1 and lines[0].startswith("recbridge: cannot start: LOG_LEVEL: ")
    finally:
        processes.stop(started)


def test_rq_pubsub_thread_ends_before_its_connection_is_closed(redis: redis_lib.Redis) -> None:
    """RQ's pubsub thread blocked up to 60 s per read and RQ closed its connection after a
    1 s join: on a loaded machine the thread was still reading at exit (SIGSEGV). Ours sees
    a stop with no message from Redis, and ``unsubscribe`` waits for it to end."""
    worker = RecbridgeWorker(["q"], connection=redis)
    worker.subscribe()
    thread = worker.pubsub_thread
    assert thread is not None and thread.is_alive()
    thread.stop()  # no UNSUBSCRIBE: nothing comes from Redis to wake a blocked read
    thread.join(timeout=30)  # a deadline, not a speed: RQ's own thread slept 60 s here
    assert not thread.is_alive()
    worker.subscribe()
    thread = worker.pubsub_thread
    worker.unsubscribe()
    assert not thread.is_alive() and worker.pubsub_thread is None
