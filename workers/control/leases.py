"""Control-job leases: a start, stop or poll whose worker dies is resumed in seconds.

The drain pool's idea (``workers.drainers``), for control jobs: a running control job holds
a lease in ``rb:control:leases`` (job id -> expiry, by Redis's clock) and a heartbeat thread
renews it, and the recording lock the job holds, every ``RENEW_EVERY_S``. A job that ends,
well or with an exception, gives its lease back (an exception is its retry owner's business,
``workers.jobs``). Only a worker that died (SIGKILL, OOM, a lost machine) leaves a lease
behind; once it runs out, any control job and the clock's ``watch_leases`` queue the same
job again — its recording lock has run out by then too. Nothing here is a singleton: every
recoverer claims a dead lease atomically before it queues the successor.

Fencing: a worker that was only held back (a loaded machine), not dead, finds at its next
renewal that its lease or recording lock went to the successor; the job is then marked
superseded, ``calls.call`` refuses every further Agora call, and the job ends quietly
(``control.job_superseded``), leaving the work to its successor.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import orjson
from redis import Redis, RedisError
from redis.exceptions import LockError, LockNotOwnedError
from redis.lock import Lock
from rq import get_current_job

from workers import jobs, keys, runtime
from workers.lua import LuaScript
from workers.metrics import CONTROL_RESUMED
from workers.queues import JobPolicy, job_policy

log = logging.getLogger("recbridge.control")
T = TypeVar("T")

LEASE_S = 8  # a running control job that has not renewed for this long is dead
RENEW_EVERY_S = 2.0
CLAIM_S = 30  # a recoverer's hold on a dead lease until its successor is queued
MAX_RESUMES = 3  # a job that kills its worker every time is given up after this
DESCRIPTION_TTL_S = 24 * 3600

_NOW_MS = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) "
# KEYS: leases, description. ARGV: job id, lease s, description, description TTL s.
TAKE = LuaScript(
    _NOW_MS
    + """
redis.call('ZADD', KEYS[1], now + ARGV[2] * 1000, ARGV[1])
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
return now
"""
)
# KEYS: leases. ARGV: job id, lease s. Renews only a lease still held and not claimed.
# 1 renewed; 0 when the lease is gone or a recoverer claimed it (its claim reaches past a
# lease's length): the job was superseded. (ZADD XX alone answers 0 even when it renews.)
RENEW = LuaScript(
    _NOW_MS
    + """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
local until_ms = now + ARGV[2] * 1000
if not score or tonumber(score) > until_ms then return 0 end
redis.call('ZADD', KEYS[1], until_ms, ARGV[1])
return 1
"""
)
# KEYS: leases. ARGV: claim s, most. Dead leases, each claimed for CLAIM_S.
CLAIM_DEAD = LuaScript(
    _NOW_MS
    + """
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(dead) do
  redis.call('ZADD', KEYS[1], now + ARGV[1] * 1000, id)
end
return dead
"""
)

_held: list[Lock] = []  # locks the running job holds (one job at a time per worker)
# Set by the heartbeat when the running job's lease or lock is no longer its own: a
# recoverer took it for dead (a worker held back for LEASE_S) and queued a successor.
_superseded = threading.Event()


class Superseded(Exception):
    """The running control job's lease went to a successor: it must not call Agora again."""


def check_fenced() -> None:
    """Raise ``Superseded`` when the running job lost its lease (before every Agora call)."""
    if _superseded.is_set():
        raise Superseded("the lease of this control job was taken over")


def ends_superseded(exc: BaseException) -> bool:
    """Whether ``exc`` ends a job that lost its lease: ``Superseded`` itself, or the
    ``LockNotOwnedError`` its recording lock raises on release once the successor holds it
    (without this, RQ would retry the superseded job once more)."""
    if isinstance(exc, Superseded):
        return True
    return isinstance(exc, LockNotOwnedError) and _superseded.is_set()


def hold(lock: Lock) -> None:
    """Keep ``lock`` alive for as long as the running job's lease (``thread_local=False``)."""
    _held.append(lock)


def release(lock: Lock) -> None:
    if lock in _held:
        _held.remove(lock)


def _beat(connection: Redis, job_id: str, stop: threading.Event) -> None:
    while not stop.wait(RENEW_EVERY_S):
        try:
            renewed = int(RENEW.run(connection, [keys.CONTROL_LEASES], [job_id, LEASE_S]))
            for lock in list(_held):
                try:
                    lock.extend(LEASE_S, replace_ttl=True)
                except LockNotOwnedError:
                    if lock in _held:  # not released by the job meanwhile: it lapsed
                        _lose(job_id, "recording lock lapsed")
                        return
        except (RedisError, LockError) as exc:
            log.warning("control.lease_renew_failed", extra={"job_id": job_id, "error": str(exc)})
            continue
        if renewed == 0:
            _lose(job_id, "lease gone")
            return


def _lose(job_id: str, why: str) -> None:
    _superseded.set()
    log.error("control.lease_lost", extra={"job_id": job_id, "error": why})


@contextmanager
def leased() -> Iterator[None]:
    """Run the current control job under a lease (see the module's docstring)."""
    job = get_current_job()
    assert job is not None, "leased runs inside an RQ job"
    connection = job.connection
    description = orjson.dumps(
        {
            "func": job.func_name,
            "args": list(job.args),
            "kwargs": job.kwargs,
            "resumes": int(job.meta.get("resumes", 0)),
            "resumed_from": job.meta.get("resumed_from"),
        }
    )
    recover(connection, job_policy(runtime.settings()))
    TAKE.run(
        connection,
        [keys.CONTROL_LEASES, keys.control_lease(job.id)],
        [job.id, LEASE_S, description, DESCRIPTION_TTL_S],
    )
    stop = threading.Event()
    _superseded.clear()
    beat = threading.Thread(target=_beat, args=(connection, job.id, stop), daemon=True)
    beat.start()
    try:
        yield
    except (Superseded, LockNotOwnedError) as exc:
        if not ends_superseded(exc):
            raise
        # Its successor is queued and does the work: no error, no retry of this one.
        log.warning("control.job_superseded", extra={"job_id": job.id, "func": job.func_name})
    finally:
        stop.set()
        beat.join()
        _held.clear()
        with connection.pipeline(transaction=True) as pipe:
            pipe.zrem(keys.CONTROL_LEASES, job.id)
            pipe.delete(keys.control_lease(job.id))
            pipe.execute()


def run_leased(fn: Callable[[], T]) -> T:
    with leased():
        return fn()


def recover(connection: Redis, policy: JobPolicy, most: int = 50) -> int:
    """Queue again every control job whose worker died; returns how many."""
    resumed = 0
    for raw_id in CLAIM_DEAD.run(connection, [keys.CONTROL_LEASES], [CLAIM_S, most]):
        job_id = keys.text(raw_id)
        raw = connection.get(keys.control_lease(job_id))
        description: dict[str, Any] | None = orjson.loads(raw) if raw else None
        spec = jobs.spec_for(description["func"]) if description else None
        with connection.pipeline(transaction=True) as pipe:
            pipe.multi()  # before RQ's enqueue, which asks for MULTI itself
            pipe.zrem(keys.CONTROL_LEASES, job_id)
            pipe.delete(keys.control_lease(job_id))
            if description is None or spec is None:
                pipe.execute()
                continue
            resumes = int(description.get("resumes", 0)) + 1
            if resumes > MAX_RESUMES:
                pipe.execute()
                log.error(
                    "control.job_abandoned",
                    extra={"job_id": job_id, "func": spec.func, "resumes": resumes - 1},
                )
                continue
            successor = jobs.enqueue(
                connection,
                policy,
                spec,
                *description["args"],
                kwargs=description["kwargs"],
                # The first job of a line of resumed ones: a poll checks it is its
                # recording's current poll (workers.control.polling).
                meta={
                    "resumes": resumes,
                    "resumed_from": description.get("resumed_from") or job_id,
                },
                pipeline=pipe,
            )
            pipe.execute()
        resumed += 1
        CONTROL_RESUMED.inc()
        log.warning(
            "control.job_resumed",
            extra={"job_id": job_id, "successor": successor, "func": spec.func, "resumes": resumes},
        )
    return resumed


def watch_leases() -> int:
    """Periodic (the clock): resume control jobs whose worker died."""
    job = get_current_job()
    assert job is not None, "watch_leases runs as an RQ job"
    return recover(job.connection, job_policy(runtime.settings()))
