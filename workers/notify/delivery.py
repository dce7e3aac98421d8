"""The delivery job: fan staged messages out to endpoints and send what is due.

One job runs for a short shift: it moves the outbox to the endpoints, claims due deliveries
within each endpoint's concurrency limit and hands them to a per-process thread pool, so
sends (each bounded by ``NOTIFY_TIMEOUT_S``) go on in the background while the worker runs
other jobs. It leaves when idle, clearing the kick flag only if the outbox is empty (one
atomic step, so a message staged meanwhile always finds a job), and schedules the next run
at the earliest due retry. Every run also schedules a sweep ``SWEEP_S`` ahead, so a claim
left by a killed worker, or a writer that died before its kick, is picked up within
``SWEEP_S`` plus the claim's lease.
"""

from __future__ import annotations

import logging
import math
import random
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import urllib3
from redis import Redis, RedisError
from rq import Queue, get_current_job
from rq.registry import StartedJobRegistry

from config.settings import Settings
from workers import jobs, keys, runtime
from workers.lua import LuaScript
from workers.metrics import NOTIFY_ATTEMPTS, NOTIFY_DEAD, NOTIFY_DISABLED, NOTIFY_LATENCY
from workers.notify import endpoints, rules, signing, store
from workers.notify.outbox import KICK_RENEW_S, KICK_TTL_S
from workers.queues import CONTROL_QUEUE, EVENTS_QUEUE, JobPolicy

log = logging.getLogger("recbridge.notify")

# Failed delivery jobs are kept a day; none is retried by RQ (the next run is the retry).
POLICY = JobPolicy(failure_ttl_s=24 * 3600, retry_intervals_s=())
SHIFT_S = 2.0  # after this, hand the worker over when it is needed (_should_hand_over)
MAX_SHIFT_S = 20.0
LINGER_S = 1.0  # idle this long, leave (a new job may wait seconds for a worker)
HOLD_S = 10.0  # but stay for what falls due this soon (while no other job waits)
HOLD_POLL_S = 0.1
ENDPOINTS_REFRESH_S = 1.0
POLL_S = 0.02
SWEEP_S = 30
THREADS = 16  # sends in flight per process, over all endpoints
LEASE_MARGIN_S = 5  # a claim outlives the attempt's timeout by this much
RESPONSE_BYTES = 64 * 1024

RUNNER_TTL_S = 5  # a dead delivery job's place is free again this soon
# KEYS: runner. ARGV: token. Free the place only if it is still ours.
RELEASE = LuaScript(
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)
# KEYS: outbox, kick flag. Clear the flag only when nothing is staged.
LEAVE = LuaScript(
    "if redis.call('LLEN', KEYS[1]) == 0 then redis.call('DEL', KEYS[2]) return 1 end return 0"
)

_busy = 0
_busy_lock = threading.Lock()
_freed = threading.Event()  # a send finished: its endpoint may have room for the next
_pool: ThreadPoolExecutor | None = None
_http: urllib3.PoolManager | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool  # noqa: PLW0603 - one pool per process, made on first use
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="notify")
    return _pool


def _client() -> urllib3.PoolManager:
    global _http  # noqa: PLW0603 - one connection pool per process, made on first use
    if _http is None:
        _http = urllib3.PoolManager(num_pools=64, maxsize=THREADS, retries=False)
    return _http


def enqueue_delivery(connection: Redis) -> None:
    jobs.enqueue(
        connection,
        POLICY,
        jobs.DELIVER_NOTIFICATIONS,
        job_id=f"notify-{secrets.token_hex(6)}",
        description="deliver notifications",
    )


def schedule_run(connection: Redis, at_s: float, grid_s: int = 1) -> None:
    """A delivery job at ``at_s`` (rounded up to ``grid_s``); runs asked for the same
    moment share one job id, so they collapse into one."""
    slot = int(math.ceil(at_s / grid_s) * grid_s)
    jobs.enqueue(
        connection,
        POLICY,
        jobs.DELIVER_NOTIFICATIONS,
        delay_s=max(0.001, slot - time.time()),
        job_id=f"notify-at-{slot}",
        description="deliver notifications (scheduled)",
    )


def deliver() -> None:
    """The RQ job. One runs at a time (``rb:notify:runner``): a second one finding it taken
    leaves at once, so deliveries never hold more than one worker."""
    job = get_current_job()
    assert job is not None, "deliver runs as an RQ job"
    connection: Redis = job.connection
    schedule_run(connection, time.time() + SWEEP_S, grid_s=SWEEP_S)
    token = secrets.token_hex(8)
    if not connection.set(keys.NOTIFY_RUNNER, token, nx=True, ex=RUNNER_TTL_S):
        return
    try:
        run(connection, runtime.settings(), token)
    finally:
        RELEASE.run(connection, [keys.NOTIFY_RUNNER], [token])


def _should_hand_over(connection: Redis) -> bool:
    """Whether this job should give its worker back: a control job waits, or drain jobs wait
    and none runs (every worker is taken, e.g. a single worker). While another worker
    drains, waiting drain jobs do not count: a successor queued ahead of them would take the
    worker straight back."""
    control = Queue(CONTROL_QUEUE, connection=connection)
    events = Queue(EVENTS_QUEUE, connection=connection)
    with connection.pipeline(transaction=False) as pipe:
        pipe.llen(control.key)
        pipe.llen(events.key)
        pipe.zcard(StartedJobRegistry(EVENTS_QUEUE, connection=connection).key)
        control_waiting, events_waiting, draining = pipe.execute()
    return bool(control_waiting or (events_waiting and not draining))


def run(connection: Redis, settings: Settings, token: str | None = None) -> None:
    """One shift: fan out, claim, send; then leave."""
    global _busy  # noqa: PLW0603
    started = time.monotonic()
    idle_since: float | None = None
    renewed = checked = listed = 0.0
    targets: list[dict[str, Any]] = []
    others_waiting = handing_over = False
    lease_ms = int((settings.notify_timeout_s + LEASE_MARGIN_S) * 1000)
    while True:
        now = time.monotonic()
        if now - renewed >= KICK_RENEW_S:
            with connection.pipeline(transaction=False) as pipe:
                pipe.set(keys.NOTIFY_KICK, 1, ex=KICK_TTL_S)
                if token is not None:
                    pipe.set(keys.NOTIFY_RUNNER, token, ex=RUNNER_TTL_S)
                pipe.execute()
            renewed = now
        if now - listed >= ENDPOINTS_REFRESH_S:  # an endpoint added or disabled shows soon
            targets, listed = endpoints.list_all(connection), now
        moved = store.fan_out(connection, targets, settings.notify_retention_s)
        claimed = 0
        for endpoint in targets:
            with _busy_lock:
                free = THREADS - _busy
            if endpoint["disabled"] or free <= 0:
                continue
            ids = store.claim(
                connection, endpoint["id"], settings.notify_endpoint_concurrency, lease_ms, free
            )
            for message_id in ids:
                with _busy_lock:
                    _busy += 1
                _executor().submit(_send_one, connection, settings, endpoint, message_id)
            claimed += len(ids)
        elapsed = now - started
        if now - checked >= 0.25 and elapsed >= SHIFT_S:
            others_waiting, checked = _should_hand_over(connection), now
        if runtime.stop_requested() or others_waiting:
            handing_over = True
            break
        if elapsed >= MAX_SHIFT_S:  # a fresh job takes over (RQ's job timeout stays far)
            break
        if not targets and connection.llen(keys.NOTIFY_OUTBOX) == 0:
            break  # nobody to tell: the messages are kept for a replay, and no worker held
        if moved or claimed:
            idle_since = None
            continue
        idle_since = idle_since or now
        if now - idle_since >= LINGER_S and not _due_soon(connection, targets):
            break
        _freed.wait(POLL_S if now - idle_since < LINGER_S else HOLD_POLL_S)
        _freed.clear()
    if token is not None:  # before deciding on a successor, which must find the place free
        RELEASE.run(connection, [keys.NOTIFY_RUNNER], [token])
    _leave(connection, targets, handing_over)


def _due_soon(connection: Redis, targets: list[dict[str, Any]]) -> bool:
    """Whether a retry (or a dead worker's claim) falls due within ``HOLD_S``: waiting for
    it here is quicker than a scheduled job, and needs no scheduler."""
    due = store.next_due_ms(connection, [e["id"] for e in targets if not e["disabled"]])
    return due is not None and due - time.time() * 1000 <= HOLD_S * 1000


def _leave(connection: Redis, targets: list[dict[str, Any]], handing_over: bool) -> None:
    staged_left = LEAVE.run(connection, [keys.NOTIFY_OUTBOX, keys.NOTIFY_KICK], []) != 1
    due = store.next_due_ms(connection, [e["id"] for e in targets if not e["disabled"]])
    backlog = due is not None and due <= time.time() * 1000 + 1000
    if handing_over and (staged_left or backlog):
        schedule_run(connection, time.time() + 1)  # after the control job that waits
    elif staged_left or backlog:
        enqueue_delivery(connection)  # a shift ended with work left: a successor goes on
    elif due is not None:
        schedule_run(connection, due / 1000)


def post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
    """One POST, redirects not followed, the whole attempt bounded by ``timeout_s``."""
    response = _client().request(
        "POST",
        url,
        body=body,
        headers=headers,
        timeout=urllib3.Timeout(total=timeout_s),
        redirect=False,
        retries=False,
        preload_content=False,
    )
    try:
        response.read(RESPONSE_BYTES)
        return int(response.status)
    finally:
        response.release_conn()


def _send_one(
    connection: Redis, settings: Settings, endpoint: dict[str, Any], message_id: str
) -> None:
    global _busy  # noqa: PLW0603
    try:
        _attempt(connection, settings, endpoint, message_id)
    except (RedisError, OSError) as exc:  # the claim runs out and the delivery is retried
        log.error(
            "notify.attempt_error",
            extra={"webhook_id": message_id, "endpoint_id": endpoint["id"], "error": str(exc)},
        )
    except Exception:
        log.exception(
            "notify.attempt_error", extra={"webhook_id": message_id, "endpoint_id": endpoint["id"]}
        )
    finally:
        with _busy_lock:
            _busy -= 1
        _freed.set()


def _release(connection: Redis, endpoint_id: str, message_id: str) -> None:
    with connection.pipeline() as pipe:
        pipe.zrem(keys.notify_inflight(endpoint_id), message_id)
        pipe.zrem(keys.notify_due(endpoint_id), message_id)
        pipe.execute()


def _attempt(
    connection: Redis, settings: Settings, endpoint: dict[str, Any], message_id: str
) -> None:
    eid = endpoint["id"]
    message, delivery = store.load_both(connection, eid, message_id)
    if message is None or delivery is None or delivery["status"] != "pending":
        _release(connection, eid, message_id)
        return
    body = orjson.dumps(message["body"])
    started = time.time()
    at_ms = int(started * 1000)
    status_code: int | None = None
    error: str | None = None
    if not endpoints.url_allowed(endpoint["url"], settings.notify_allowed_hosts):
        error = "host_not_allowed"
    else:
        sign_with = endpoints.secrets_for(settings, endpoint, at_ms)
        headers = signing.headers(sign_with, message_id, int(started), body)
        try:
            status_code = post(endpoint["url"], body, headers, settings.notify_timeout_s)
        except urllib3.exceptions.NewConnectionError:  # (a subclass of the timeout error)
            error = "connection_error"
        except urllib3.exceptions.TimeoutError:
            error = "timeout"
        except urllib3.exceptions.HTTPError:
            error = "connection_error"
    finished = time.time()
    attempt_no = int(delivery.get("attempt_count", 0)) + 1
    verdict = rules.after_attempt(
        status_code,
        attempt_no,
        settings.notify_retry_schedule_s,
        random.uniform(-1, 1),
        int(finished * 1000),
        endpoint.get("failing_since_ms"),
        settings.notify_disable_after_s,
    )
    outcome = rules.outcome_of(status_code, error)
    delivery.update(status=verdict.status, next_ms=verdict.next_ms)
    attempt = {
        "at_ms": at_ms,
        "status_code": status_code,
        "outcome": outcome,
        "latency_ms": int((finished - started) * 1000),
    }
    store.record(connection, eid, message_id, delivery, attempt, settings.notify_retention_s)
    NOTIFY_ATTEMPTS.labels(eid, outcome).inc()
    context = {
        "webhook_id": message_id,
        "endpoint_id": eid,
        "type": message["body"]["type"],
        "status_code": status_code,
        "outcome": outcome,
        "attempt": attempt_no,
        **_ids(message["body"]["data"]),
    }
    if verdict.status == "delivered":
        NOTIFY_LATENCY.observe(max(0.0, finished - message["created_ms"] / 1000))
        log.info("notify.delivered", extra=context)
    elif verdict.status == "pending":
        log.warning("notify.attempt_failed", extra={**context, "next_ms": verdict.next_ms})
        schedule_run(connection, (verdict.next_ms or at_ms) / 1000)
    else:
        NOTIFY_DEAD.inc()
        log.error("notify.dead_letter", extra=context)
    _track_health(connection, endpoint, verdict, int(finished * 1000), context)


def _ids(data: dict[str, Any]) -> dict[str, Any]:
    return {name: data.get(name) for name in ("sid", "cname", "recording_id")}


def _track_health(
    connection: Redis,
    endpoint: dict[str, Any],
    verdict: rules.Verdict,
    now_ms: int,
    context: dict[str, Any],
) -> None:
    eid = endpoint["id"]
    if verdict.status == "delivered":
        if endpoint.get("failing_since_ms") is not None:
            endpoint["failing_since_ms"] = None
            endpoints.update(connection, eid, lambda e: e.update(failing_since_ms=None))
        return
    if verdict.disable is not None:
        endpoints.set_disabled(connection, eid, verdict.disable)
        endpoint["disabled"] = True
        NOTIFY_DISABLED.labels(verdict.disable).inc()
        log.error(
            "notify.endpoint_disabled",
            extra={**context, "reason": verdict.disable, "url_host": _host(endpoint["url"])},
        )
        return
    if endpoint.get("failing_since_ms") is None:
        endpoint["failing_since_ms"] = now_ms

        def mark(e: dict[str, Any]) -> None:
            if e.get("failing_since_ms") is None:
                e["failing_since_ms"] = now_ms

        endpoints.update(connection, eid, mark)


def _host(url: str) -> str:
    from urllib.parse import urlsplit  # noqa: PLC0415

    return urlsplit(url).hostname or ""
