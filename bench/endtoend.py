"""End to end: callback received -> session updated, at a sustained rate, with web and
workers sharing the machine; and the memory each piece takes."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import redis as redis_lib
from rq import Worker

from bench.harness import gunicorn, rss_mb, wrk
from bench.payloads import SECRET, write_requests
from bench.processing import WORKERS, rq_workers
from tests.support import processes
from workers import keys
from workers.redis_conn import connect_url

CONNECTIONS = 32  # many slow connections: wrk's per-connection delay then holds the rate


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(redis_url: str, workdir: Path, rate: int, seconds: int) -> dict[str, float]:
    connection = connect_url(redis_url, socket_timeout=None)
    connection.flushdb()
    env = {
        "REDIS_URL": redis_url,
        "AGORA_NCS_SECRET": SECRET,
        "METRICS_DIR": str(workdir / "metrics"),
    }
    trial_file, requests_file = workdir / "e2e-trial.txt", workdir / "e2e.txt"
    write_requests(trial_file, count=rate * 3 + 200, sessions=100)
    write_requests(requests_file, count=rate * seconds + 500, sessions=100)
    worker_command = processes.procfile_command("worker")
    with (
        gunicorn("webhook:create_app()", env) as (url, web_pid),
        rq_workers(worker_command, redis_url, connection),
    ):
        # wrk waits its delay after each answer, so it sends a little under the asked rate;
        # a short run measures by how much, and the real run asks that much more.
        trial = wrk(
            url,
            trial_file,
            seconds=3,
            connections=CONNECTIONS,
            rate_per_connection=rate / CONNECTIONS,
        )
        measured_from_ms = time.time() * 1000
        sent = wrk(
            url,
            requests_file,
            seconds=seconds,
            connections=CONNECTIONS,
            rate_per_connection=rate / CONNECTIONS * rate / trial["rps"],
        )
        web_rss = rss_mb(web_pid)
        worker_rss = sum(rss_mb(int(w.pid)) for w in _workers(connection))
        _wait_drained(connection)
    lags = []
    for key in connection.scan_iter(match=keys.timeline("*"), count=1000):
        for raw in connection.hvals(key):
            entry = orjson.loads(raw)
            if entry["received_ms"] >= measured_from_ms:  # not the trial's events
                lags.append(entry["applied_ms"] - entry["received_ms"])
    return {
        "rate": sent["rps"],
        "events": len(lags),
        "p50_ms": _percentile(lags, 0.50),
        "p99_ms": _percentile(lags, 0.99),
        "max_ms": max(lags),
        "non_2xx": sent["non_2xx"],
        "web_rss_mb": web_rss,
        "worker_rss_mb": worker_rss,
        "workers": WORKERS,
    }


def _workers(connection: redis_lib.Redis) -> list[Worker]:
    return list(Worker.all(connection=connection))


def _wait_drained(connection: redis_lib.Redis) -> None:
    processes.wait_until(lambda: not connection.keys(keys.pending("*")), 60, "the drain")
