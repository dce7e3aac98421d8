"""Ingest with replicated acknowledgement: recbridge's NCS endpoint with
``REDIS_MIN_REPLICAS=1`` (each 200 waits for a local replica's ``WAIT`` acknowledgement)
against the same endpoint with ``REDIS_MIN_REPLICAS=0``, the replica attached in both, in
interleaved rounds (median of the rounds)."""

from __future__ import annotations

import statistics
from pathlib import Path

from bench.harness import gunicorn, wrk
from bench.payloads import SECRET, write_requests
from tests.support.redis_server import RedisServer
from workers.redis_conn import connect_url

CONNECTIONS = 32
SETUPS = {"REDIS_MIN_REPLICAS=0": "0", "REDIS_MIN_REPLICAS=1": "1"}


def run(redis_url: str, workdir: Path, seconds: int, rounds: int) -> list[dict[str, object]]:
    primary = connect_url(redis_url, socket_timeout=None)
    port = primary.connection_pool.connection_kwargs["port"]
    replica = RedisServer()
    replica.extra_args = ["--replicaof", "127.0.0.1", str(port)]
    replica.start()
    try:
        requests_file = workdir / "requests-replicated.txt"
        measured: dict[str, list[dict[str, float]]] = {name: [] for name in SETUPS}
        for _ in range(rounds):
            for name, min_replicas in SETUPS.items():
                primary.flushdb()
                write_requests(requests_file, count=60_000, sessions=200)  # fresh notifyMs
                env = {
                    "REDIS_URL": redis_url,
                    "AGORA_NCS_SECRET": SECRET,
                    "LOG_LEVEL": "INFO",
                    "METRICS_DIR": str(workdir / "metrics-replicated"),
                    "REDIS_MIN_REPLICAS": min_replicas,
                }
                with gunicorn("webhook:create_app()", env) as (url, _pid):
                    wrk(url, requests_file, seconds=1, connections=CONNECTIONS)  # warm up
                    measured[name].append(
                        wrk(url, requests_file, seconds=seconds, connections=CONNECTIONS)
                    )
    finally:
        replica.cleanup()
    return [
        {
            "setup": name,
            "max_rps": statistics.median(r["rps"] for r in runs),
            "rounds": ", ".join(f"{r['rps']:,.0f}" for r in runs),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "non_2xx": sum(r["non_2xx"] for r in runs),
        }
        for name, runs in measured.items()
    ]
