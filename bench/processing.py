"""Processing: events/s applied by the Procfile's workers, by RQ's default forking Worker
running one job per event (the straightforward design), and by a bare BRPOP loop.

Workers are started and registered before the work is queued, so start-up is not timed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import redis as redis_lib
from rq import Queue, Worker, get_current_job

from bench.payloads import recorder_event
from tests.support import processes
from workers import keys, transitions
from workers.drainers import spawn
from workers.inbox import Submission, encode_entry
from workers.queues import JobPolicy, events_queue
from workers.redis_conn import connect_url

BARE_LIST = "bench:bare"
WORKERS = 2


def events(count: int, sessions: int) -> list[dict[str, Any]]:
    now = int(time.time() * 1000)
    sids = [f"bench-{i:04d}" for i in range(sessions)]
    return [recorder_event(sids[i % sessions], i // sessions, now) for i in range(count)]


def apply_one(event: dict[str, Any]) -> None:
    """One event, one job: what the straightforward design runs per callback."""
    job = get_current_job()
    assert job is not None
    apply_plainly(job.connection, event)


def apply_plainly(connection: redis_lib.Redis, event: dict[str, Any]) -> None:
    sid = event["payload"]["sid"]
    raw = connection.get(keys.session(sid))
    session = transitions.apply(orjson.loads(raw) if raw else None, event)
    pipe = connection.pipeline()
    pipe.hset(keys.timeline(sid), transitions.event_identity(event), orjson.dumps(event))
    if session is not None:
        pipe.set(keys.session(sid), orjson.dumps(session))
        pipe.zadd(keys.sessions_by_state(session["state"]), {sid: session["started_ms"] or 0})
    pipe.execute()


def bare_loop(redis_url: str) -> None:
    """A worker process with no framework: BRPOP, apply, write; exits when idle for 3 s."""
    connection = connect_url(redis_url, socket_timeout=None)
    connection.incr("bench:bare:ready")
    while (item := connection.brpop([BARE_LIST], timeout=3)) is not None:
        apply_plainly(connection, orjson.loads(item[1]))


@contextmanager
def rq_workers(command: str, redis_url: str, connection: redis_lib.Redis) -> Iterator[None]:
    procs = [
        processes._spawn(["bash", "-c", f"exec {command}"], {"REDIS_URL": redis_url})
        for _ in range(WORKERS)
    ]
    try:
        processes.wait_until(lambda: len(Worker.all(connection=connection)) == WORKERS, 30)
        yield
    finally:
        for proc in procs:
            processes.stop(proc)


def _procfile_workers(
    redis_url: str, connection: redis_lib.Redis, count: int, per_session: int
) -> float:
    connection.flushdb()
    streams: dict[str, list[bytes]] = {}
    for event in events(count, count // per_session):
        stream = "s:" + event["payload"]["sid"]
        streams.setdefault(stream, []).append(
            encode_entry(Submission(event["noticeId"], stream, event, int(time.time() * 1000)))
        )
    pipe = connection.pipeline()
    for stream, entries in streams.items():
        pipe.rpush(keys.inbox(stream), *entries)
    pipe.execute()
    with rq_workers(processes.procfile_command("worker"), redis_url, connection):
        started = time.monotonic()
        # What ingest does for a burst: every stream waits on the ready list, and the pool
        # of drain jobs (DRAIN_CONCURRENCY, one per worker here) takes them.
        pipe = connection.pipeline()
        pipe.multi()
        for stream in streams:
            pipe.set(keys.pending(stream), 1)
            pipe.rpush(keys.READY, stream)
        pipe.execute()
        for _ in range(WORKERS):
            spawn(connection, events_queue(connection), JobPolicy(600, ()))
        processes.wait_until(lambda: not connection.keys(keys.pending("*")), 300, "the drain")
        return time.monotonic() - started


def _default_worker(redis_url: str, connection: redis_lib.Redis, count: int) -> float:
    connection.flushdb()
    queue = Queue("bench-default", connection=connection)
    command = f"rq worker --url {redis_url} bench-default"
    with rq_workers(command, redis_url, connection):
        started = time.monotonic()
        for event in events(count, 50):
            queue.enqueue(apply_one, event, result_ttl=0)
        processes.wait_until(
            lambda: queue.count == 0 and queue.started_job_registry.count == 0, 300, "the jobs"
        )
        return time.monotonic() - started


def _bare(redis_url: str, connection: redis_lib.Redis, count: int) -> float:
    connection.flushdb()
    items = [orjson.dumps(e) for e in events(count, 200)]
    code = f"from bench.processing import bare_loop; bare_loop({redis_url!r})"
    procs = [processes._spawn([sys.executable, "-c", code], {}) for _ in range(WORKERS)]
    processes.wait_until(lambda: int(connection.get("bench:bare:ready") or 0) == WORKERS, 30)
    started = time.monotonic()
    connection.lpush(BARE_LIST, *items)
    processes.wait_until(lambda: connection.llen(BARE_LIST) == 0, 300, "the bare loop")
    elapsed = time.monotonic() - started
    for proc in procs:
        processes.stop(proc)
    return elapsed


def run(redis_url: str, count: int, baseline_count: int) -> list[dict[str, object]]:
    """Rows: recbridge with a backlog of 20 events per session (about one session's life),
    recbridge with one event per session (nothing to coalesce: its worst case), RQ's
    default worker, the bare loop."""
    connection = connect_url(redis_url, socket_timeout=None)
    rows = []
    for setup, measure, n in (
        (
            f"Procfile workers ({WORKERS} SimpleWorker, {WORKERS} drain jobs), 20 events/session",
            lambda url, conn, n: _procfile_workers(url, conn, n, per_session=20),
            count,
        ),
        (
            f"Procfile workers ({WORKERS} SimpleWorker, {WORKERS} drain jobs), 1 event/session",
            lambda url, conn, n: _procfile_workers(url, conn, n, per_session=1),
            count // 2,
        ),
        (
            f"RQ default Worker ({WORKERS}, fork per job, one job per event)",
            _default_worker,
            baseline_count,
        ),
        (f"bare BRPOP loop ({WORKERS} processes, same writes, no RQ)", _bare, count),
    ):
        seconds = measure(redis_url, connection, n)
        rows.append({"setup": setup, "events": n, "seconds": seconds, "events_per_s": n / seconds})
    return rows
