"""Ingest: recbridge's NCS endpoint against the bare-Flask ceiling and the peer handler."""

from __future__ import annotations

from pathlib import Path

import redis as redis_lib

from bench.harness import gunicorn, wrk
from bench.payloads import SECRET, write_requests

APPS = {
    "ceiling (bare Flask view)": "bench.apps:ceiling_app()",
    "peer (straightforward handler)": "bench.apps:peer_app()",
    "recbridge": "webhook:create_app()",
}
CONNECTIONS = 32


def run(redis_url: str, workdir: Path, seconds: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    env = {
        "REDIS_URL": redis_url,
        "AGORA_NCS_SECRET": SECRET,
        "LOG_LEVEL": "INFO",
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
    }
    for name, spec in APPS.items():
        redis_lib.Redis.from_url(redis_url).flushdb()
        requests_file = workdir / "requests.txt"
        sizes = write_requests(requests_file, count=120_000, sessions=200)  # fresh notifyMs
        with gunicorn(spec, env) as (url, _pid):
            wrk(url, requests_file, seconds=2, connections=CONNECTIONS)  # warm up
            saturated = wrk(url, requests_file, seconds=seconds, connections=CONNECTIONS)
            half = saturated["rps"] / 2
            steady = wrk(
                url, requests_file, seconds=seconds, connections=16, rate_per_connection=half / 16
            )
        rows.append(
            {
                "app": name,
                "max_rps": saturated["rps"],
                "rate": steady["rps"],
                "p50_ms": steady["p50_ms"],
                "p99_ms": steady["p99_ms"],
                "non_2xx": saturated["non_2xx"] + steady["non_2xx"],
                **sizes,
            }
        )
    return rows
