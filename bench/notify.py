"""Notifications: delivery throughput to a local receiver, and notification latency
(state change -> 2xx at the receiver) while the end-to-end load runs at 300 events/s."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import redis as redis_lib

from bench.endtoend import CONNECTIONS, _percentile, _wait_drained
from bench.harness import gunicorn, wrk
from bench.payloads import SECRET, write_requests
from bench.processing import WORKERS
from config.settings import Secret, Settings
from tests.support import processes
from tests.support.redis_server import free_port
from workers import keys
from workers.notify import endpoints, outbox

SIGNING_KEY = "bench-notify-signing-key-8c1e"
THROUGHPUT_MESSAGES = 3000


def _serve(port: int, out_path: str) -> None:
    """A receiver in its own process: answers 204 and notes when each message arrived."""
    notes = Path(out_path).open("a", buffering=1)  # noqa: SIM115 - open for the process's life

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver behind a proxy

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", "0")))
            stamp = raw.split(b'"timestamp":"', 1)[1].split(b'"', 1)[0].decode()
            arrived = time.time()
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()
            notes.write(f"{self.headers['webhook-id']} {stamp} {arrived:.6f}\n")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever(poll_interval=0.05)


@contextmanager
def receiver(workdir: Path) -> Iterator[tuple[str, Path]]:
    port, out = free_port(), workdir / f"received-{time.time_ns()}.txt"
    child = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(port, str(out)), daemon=True
    )
    child.start()
    try:
        yield f"http://127.0.0.1:{port}/hooks", out
    finally:
        child.terminate()
        child.join(10)


def _received(out: Path) -> list[tuple[str, float, float]]:
    rows = []
    for line in out.read_text().splitlines() if out.exists() else []:
        webhook_id, stamp, at = line.split()
        created = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        rows.append((webhook_id, created, float(at)))
    return rows


def _env(redis_url: str, workdir: Path) -> dict[str, str]:
    return {
        "REDIS_URL": redis_url,
        "AGORA_NCS_SECRET": SECRET,
        "NOTIFY_SIGNING_KEY": SIGNING_KEY,
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
    }


@contextmanager
def workers(env: dict[str, str], connection: redis_lib.Redis) -> Iterator[None]:
    from rq import Worker  # noqa: PLC0415

    command = processes.procfile_command("worker")
    procs = [processes._spawn(["bash", "-c", f"exec {command}"], env) for _ in range(WORKERS)]
    try:
        processes.wait_until(lambda: len(Worker.all(connection=connection)) == WORKERS, 30)
        yield
    finally:
        for proc in procs:
            processes.stop(proc)


def _register(connection: redis_lib.Redis, redis_url: str, url: str) -> None:
    settings = Settings(redis_url=redis_url, notify_signing_key=Secret(SIGNING_KEY))
    endpoints.create(connection, settings, url, None, "bench")


def throughput(redis_url: str, workdir: Path) -> dict[str, float]:
    """Messages staged at once, delivered by the Procfile's workers to a local receiver."""
    connection = redis_lib.Redis.from_url(redis_url)
    connection.flushdb()
    env = _env(redis_url, workdir)
    with receiver(workdir) as (url, out), workers(env, connection):
        _register(connection, redis_url, url)
        now_ms = int(time.time() * 1000)
        data = {"sid": "bench", "cname": "bench", "version": 1}
        entries = [
            outbox.encode("session.exited", data, now_ms) for _ in range(THROUGHPUT_MESSAGES)
        ]
        started = time.monotonic()
        connection.rpush(keys.NOTIFY_OUTBOX, *entries)
        outbox.kick(connection, len(entries))
        processes.wait_until(
            lambda: len(_received(out)) >= THROUGHPUT_MESSAGES - 50, 300, "the deliveries"
        )
        elapsed = time.monotonic() - started
    return {
        "messages": float(THROUGHPUT_MESSAGES),
        "seconds": elapsed,
        "per_s": THROUGHPUT_MESSAGES / elapsed,
    }


def latency(redis_url: str, workdir: Path, rate: int, seconds: int) -> dict[str, float]:
    """The end-to-end bench's load (audio-state callbacks over 100 sessions) with one
    endpoint registered: every audio change becomes a ``stream.audio_changed`` message."""
    connection = redis_lib.Redis.from_url(redis_url)
    connection.flushdb()
    env = _env(redis_url, workdir)
    trial_file, requests_file = workdir / "notify-trial.txt", workdir / "notify.txt"
    write_requests(trial_file, count=rate * 3 + 200, sessions=100)
    write_requests(requests_file, count=rate * seconds + 500, sessions=100)
    with (
        receiver(workdir) as (url, out),
        gunicorn("webhook:create_app()", env) as (web, _),
        workers(env, connection),
    ):
        _register(connection, redis_url, url)
        trial = wrk(
            web,
            trial_file,
            seconds=3,
            connections=CONNECTIONS,
            rate_per_connection=rate / CONNECTIONS,
        )
        measured_from = time.time()
        sent = wrk(
            web,
            requests_file,
            seconds=seconds,
            connections=CONNECTIONS,
            rate_per_connection=rate / CONNECTIONS * rate / trial["rps"],
        )
        _wait_drained(connection)

        def settled() -> bool:
            return connection.llen(keys.NOTIFY_OUTBOX) == 0 and not any(
                connection.zcard(k) for k in connection.scan_iter(match=keys.notify_due("*"))
            )

        processes.wait_until(settled, 120, "the deliveries")
    rows = [r for r in _received(out) if r[1] >= measured_from]
    lags = [(at - created) * 1000 for _, created, at in rows]
    return {
        "rate": sent["rps"],
        "messages": float(len(rows)),
        "p50_ms": _percentile(lags, 0.50),
        "p99_ms": _percentile(lags, 0.99),
        "max_ms": max(lags),
    }
