"""gunicorn worker setups behind the shipped nginx configuration, and slow clients.

For each setup: the most callbacks/s through nginx and, for comparison, straight to gunicorn
(wrk, 32 connections); then, with 200
clients sending headers byte by byte to nginx, how long a signed callback takes; and
whether callbacks still get through when a few such clients face gunicorn directly.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import redis as redis_lib
import requests

from bench.harness import gunicorn, rss_mb, wrk
from bench.payloads import SECRET, write_requests
from tests.support.nginx import SlowClients, run_nginx, timed_callback

SETUPS = {
    "sync, 2 workers (1 per core)": "--workers 2",
    "sync, 5 workers (2 x cores + 1)": "--workers 5",
    "gthread, 2 workers x 4 threads": "--workers 2 --worker-class gthread --threads 4",
}
CONNECTIONS = 32
SLOW = 200
PROBES = 50


def _slow_probe(url: str, slow_port: int, clients: int, timeout_s: float) -> list[float]:
    """Callback times (ms) while ``clients`` slow clients hold connections to ``slow_port``;
    a callback with no answer within ``timeout_s`` counts as ``inf``."""
    slow = SlowClients(slow_port, clients)
    timings = []
    try:
        slow.wait_trickling()
        for seq in range(PROBES):
            try:
                status, ms = timed_callback(url, SECRET, "slow-probe", seq, timeout_s)
                timings.append(ms if status == 200 else float("inf"))
            except requests.RequestException:
                timings.append(float("inf"))
                break  # gunicorn is held: no need to wait for every probe
    finally:
        slow.close()
    return sorted(timings)


def run(redis_url: str, workdir: Path, seconds: int, rounds: int) -> list[dict[str, object]]:
    env = {
        "REDIS_URL": redis_url,
        "AGORA_NCS_SECRET": SECRET,
        "BIND": "127.0.0.1",
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
    }
    requests_file = workdir / "requests.txt"
    results: dict[str, list[dict[str, float]]] = {name: [] for name in SETUPS}
    for _ in range(rounds):
        for name, args in SETUPS.items():
            redis_lib.Redis.from_url(redis_url).flushdb()
            write_requests(requests_file, count=60_000, sessions=200)
            with (
                gunicorn("webhook:create_app()", {**env, "GUNICORN_CMD_ARGS": args}) as (
                    direct,
                    pid,
                ),
                run_nginx(int(direct.rsplit(":", 1)[1])) as proxy,
            ):
                wrk(proxy, requests_file, seconds=1, connections=CONNECTIONS)  # warm up
                saturated = wrk(proxy, requests_file, seconds=seconds, connections=CONNECTIONS)
                bare = wrk(direct, requests_file, seconds=seconds, connections=CONNECTIONS)
                behind = _slow_probe(proxy, int(proxy.rsplit(":", 1)[1]), SLOW, timeout_s=5)
                facing = _slow_probe(direct, int(direct.rsplit(":", 1)[1]), 10, timeout_s=2)
                results[name].append(
                    {
                        "rps": saturated["rps"],
                        "direct_rps": bare["rps"],
                        "p99_ms": saturated["p99_ms"],
                        "slow_p50_ms": statistics.median(behind),
                        "slow_max_ms": behind[-1],
                        "direct_ok": float(facing[-1] != float("inf")),
                        "rss_mb": rss_mb(pid),
                    }
                )
    rows: list[dict[str, object]] = []
    for name, runs in results.items():
        rows.append(
            {
                "setup": name,
                "max_rps": statistics.median(r["rps"] for r in runs),
                "rounds": ", ".join(f"{r['rps']:,.0f}" for r in runs),
                "p99_ms": statistics.median(r["p99_ms"] for r in runs),
                "direct_rps": statistics.median(r["direct_rps"] for r in runs),
                "slow_p50_ms": statistics.median(r["slow_p50_ms"] for r in runs),
                "slow_max_ms": max(r["slow_max_ms"] for r in runs),
                "direct_10_slow": "answered" if all(r["direct_ok"] for r in runs) else "stalled",
                "web_rss_mb": statistics.median(r["rss_mb"] for r in runs),
            }
        )
    return rows
