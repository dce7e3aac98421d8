"""What the service is doing now, read from Redis: workers, queues, the Agora request
budget, callback lag and Redis itself. The console's Health page shows these."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from redis import Redis, RedisError
from rq import Queue, Worker
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from workers import keys, sessions
from workers.queues import ALL_QUEUES
from workers.ratelimit import WINDOW_US

LAG_SESSIONS = 20  # the newest sessions whose recent events give the callback lag
LAG_WINDOW_MS = 15 * 60 * 1000


def redis_status(connection: Redis) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        connection.ping()
    except RedisError as exc:
        return {"ok": False, "error": type(exc).__name__, "latency_ms": None}
    return {
        "ok": True,
        "error": None,
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
    }


def workers(connection: Redis) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    rows = []
    for worker in Worker.all(connection=connection):
        beat = worker.last_heartbeat
        age = (now - beat.replace(tzinfo=UTC)).total_seconds() if beat else None
        job = worker.get_current_job_id()
        rows.append(
            {
                "name": worker.name,
                "hostname": worker.hostname,
                "pid": worker.pid,
                "state": worker.get_state(),
                "queues": worker.queue_names(),
                "heartbeat_age_s": None if age is None else round(age, 1),
                "heartbeat_ms": int(beat.replace(tzinfo=UTC).timestamp() * 1000) if beat else None,
                "current_job": job,
            }
        )
    return sorted(rows, key=lambda r: r["name"])


def queues(connection: Redis) -> list[dict[str, Any]]:
    rows = []
    for name in ALL_QUEUES:
        queue = Queue(name, connection=connection)
        rows.append(
            {
                "queue": name,
                "waiting": queue.count,
                "running": StartedJobRegistry(queue=queue).count,
                "scheduled": ScheduledJobRegistry(queue=queue).count,  # type: ignore[no-untyped-call]
                "failed": FailedJobRegistry(queue=queue).count,
            }
        )
    return rows


def qps_in_use(connection: Redis, app_id: str | None, limit: int) -> dict[str, Any]:
    """Requests to Agora in the shared limiter's current window, against the budget."""
    if app_id is None:
        return {"enabled": False, "used": 0, "limit": limit}
    seconds, micros = connection.time()
    now_us = int(seconds) * 1_000_000 + int(micros)
    used = connection.zcount(keys.rate_limit(app_id), now_us - WINDOW_US, "+inf")
    return {"enabled": True, "used": int(used), "limit": limit}


def callback_lag(connection: Redis, now_ms: int | None = None) -> dict[str, Any]:
    """Receipt → applied, over the recent events of the newest sessions."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    sids = keys.members(connection.zrevrange(keys.SESSIONS_ALL, 0, LAG_SESSIONS - 1))
    lags = []
    for sid in sids:
        for entry in sessions.timeline(connection, sid):
            received, applied = entry.get("received_ms"), entry.get("applied_ms")
            if received and applied and now_ms - received <= LAG_WINDOW_MS:
                lags.append(max(0, applied - received))
    lags.sort()
    if not lags:
        return {"count": 0, "p50_ms": None, "p95_ms": None, "max_ms": None}
    return {
        "count": len(lags),
        "p50_ms": lags[len(lags) // 2],
        "p95_ms": lags[min(len(lags) - 1, int(len(lags) * 0.95))],
        "max_ms": lags[-1],
    }


def state_counts(connection: Redis, index: Any, states: tuple[str, ...]) -> dict[str, int]:
    """How many are indexed under each state (``index(state)`` names the key)."""
    with connection.pipeline(transaction=False) as pipe:
        for state in states:
            pipe.zcard(index(state))
        counts = pipe.execute()
    return dict(zip(states, (int(c) for c in counts), strict=True))
