"""The worker process as a process manager sees it: killed outright, it leaves nothing."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.support import processes

pytestmark = pytest.mark.integration


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def running(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has ended; only its parent's wait is missing


def wait_for(check: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_a_killed_worker_takes_its_rq_scheduler_with_it(redis_url: str) -> None:
    worker = processes.start("worker", {"REDIS_URL": redis_url})
    scheduler = None
    try:
        wait_for(lambda: children(worker.pid), 30, "the worker never started RQ's scheduler")
        (scheduler,) = children(worker.pid)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        wait_for(lambda: not running(scheduler), 10, "RQ's scheduler outlived its worker")
    finally:
        processes.stop(worker)
        if scheduler is not None and running(scheduler):
            os.kill(scheduler, signal.SIGKILL)  # leave no orphan behind a failed test
