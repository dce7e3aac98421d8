"""Metrics count this start of this stack only: a fresh directory per process tree."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis as redis_lib
import requests

from config.metrics import base_dir, remove_gone_trees
from config.settings import Settings
from tests.support import processes
from tests.support.ncs import SECRET, encode, recording_event, signed_headers
from tests.support.redis_server import free_port


def test_each_stack_has_its_own_base_without_credentials_in_its_name() -> None:
    one = base_dir(Settings(redis_url="redis://:hunter2-pass@127.0.0.1:6379/0"))
    other = base_dir(Settings(redis_url="redis://127.0.0.1:6379/5"))
    assert one != other and "hunter2" not in one
    assert base_dir(Settings(metrics_dir="/srv/metrics")) == "/srv/metrics"


def test_a_start_removes_the_directories_of_trees_that_are_gone(tmp_path: Path) -> None:
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    gone, alive, foreign = (
        tmp_path / f"worker-{ended.stdout.strip()}",
        tmp_path / f"web-{os.getpid()}",
        tmp_path / "notes",
    )
    for folder in (gone, alive, foreign):
        folder.mkdir()
    remove_gone_trees(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, foreign.name])


def accepted(base: str) -> float:
    text = requests.get(f"{base}/metrics", timeout=10).text
    found = re.search(r'^recbridge_ncs_callbacks_total\{outcome="accepted"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


@pytest.mark.integration
def test_counters_start_from_zero_after_a_restart_even_after_a_kill(
    redis_url: str, redis: redis_lib.Redis, tmp_path: Path
) -> None:
    port, metrics = free_port(), tmp_path / "metrics"
    env = {
        "PORT": str(port),
        "REDIS_URL": redis_url,
        "AGORA_NCS_SECRET": SECRET,
        "METRICS_DIR": str(metrics),
    }
    base = f"http://127.0.0.1:{port}"

    def run_and_post(count: int) -> subprocess.Popen[bytes]:
        web = processes.start("web", env)
        processes.wait_http(f"{base}/healthz", web)
        for _ in range(count):
            body = encode(recording_event(43))
            assert requests.post(
                f"{base}/agora/ncs", data=body, headers=signed_headers(body), timeout=10
            ).ok
        return web

    killed = run_and_post(2)
    assert accepted(base) == 2
    os.killpg(killed.pid, signal.SIGKILL)  # master and workers: nothing cleans up
    processes.stop(killed)
    assert list(metrics.iterdir())  # the killed run's samples are still there

    web = run_and_post(3)
    try:
        assert accepted(base) == 3  # not 5: the killed run's directory went at this start
        assert [p.name for p in metrics.iterdir()] == [f"web-{web.pid}"]
    finally:
        processes.stop(web)
    assert web.returncode == 0
    assert not list(metrics.iterdir())  # a clean stop leaves nothing behind
