"""Ingest: recbridge's NCS endpoint against the bare-Flask ceiling and the peer handler.

The three apps are measured in interleaved rounds and each figure is the median of its
rounds, so a machine that speeds up or slows down mid-run moves all three alike.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from bench.harness import gunicorn, wrk
from bench.payloads import SECRET, write_requests
from workers.redis_conn import connect_url

APPS = {
    "ceiling (bare Flask view)": "bench.apps:ceiling_app()",
    "peer (straightforward handler)": "bench.apps:peer_app()",
    "recbridge": "webhook:create_app()",
}
CONNECTIONS = 32
STEADY_CONNECTIONS = 16


def run(redis_url: str, workdir: Path, seconds: int, rounds: int) -> list[dict[str, object]]:
    env = {
        "REDIS_URL": redis_url,
        "AGORA_NCS_SECRET": SECRET,
        "LOG_LEVEL": "INFO",
        "METRICS_DIR": str(workdir / "metrics"),
    }
    requests_file = workdir / "requests.txt"
    saturated: dict[str, list[dict[str, float]]] = {name: [] for name in APPS}
    for _ in range(rounds):
        for name, spec in APPS.items():
            connect_url(redis_url, socket_timeout=None).flushdb()
            write_requests(requests_file, count=60_000, sessions=200)  # fresh notifyMs
            with gunicorn(spec, env) as (url, _pid):
                wrk(url, requests_file, seconds=1, connections=CONNECTIONS)  # warm up
                saturated[name].append(
                    wrk(url, requests_file, seconds=seconds, connections=CONNECTIONS)
                )
    rows: list[dict[str, object]] = []
    for name, spec in APPS.items():
        max_rps = statistics.median(run["rps"] for run in saturated[name])
        connect_url(redis_url, socket_timeout=None).flushdb()
        sizes = write_requests(requests_file, count=60_000, sessions=200)
        with gunicorn(spec, env) as (url, _pid):
            wrk(url, requests_file, seconds=1, connections=CONNECTIONS)
            half = max_rps / 2
            steady = wrk(
                url,
                requests_file,
                seconds=seconds,
                connections=STEADY_CONNECTIONS,
                rate_per_connection=half / STEADY_CONNECTIONS,
            )
        rows.append(
            {
                "app": name,
                "max_rps": max_rps,
                "rounds": ", ".join(f"{run['rps']:,.0f}" for run in saturated[name]),
                "rate": steady["rps"],
                "p50_ms": steady["p50_ms"],
                "p99_ms": steady["p99_ms"],
                "non_2xx": sum(run["non_2xx"] for run in saturated[name]) + steady["non_2xx"],
                **sizes,
            }
        )
    return rows
