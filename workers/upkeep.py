"""Each worker's upkeep thread: the periodic duties (``workers.periodic``) on a short
cadence, so that nothing waits for a `clock` process or for RQ's maintenance (an idle RQ
worker blocks in BLPOP for minutes before that runs).

A dead drain job's streams are back in the ready list, with a drain job to take them, within
``LEASE_S`` plus one slot of its death, with no callback arriving and no clock. The thread
has its own Redis client and survives every Redis fault: it logs it, backs off, resumes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from redis import Redis, RedisError

from config.settings import Settings
from workers import jobs, periodic, runtime
from workers.drain import recover_drainers
from workers.faults import backoff_s, redis_fault
from workers.queues import job_policy

EVERY_S = 1.0
# Duties cheap and urgent enough to run in the thread itself; the others are queued.
INLINE: dict[str, Callable[[Redis, Settings], object]] = {
    jobs.WATCH_DRAINERS.func: recover_drainers,
}

log = logging.getLogger("recbridge.worker")


def run_due(connection: Redis, settings: Settings) -> None:
    """One round: every duty whose slot is unclaimed acts (inline) or is queued."""
    for spec in jobs.PERIODIC:
        inline = INLINE.get(spec.func)
        if inline is None:
            periodic.queue_if_due(connection, job_policy(settings), spec)
        elif periodic.claim_run(connection, spec):
            inline(connection, settings)


def start(connection: Redis, settings: Settings, stopping: threading.Event) -> threading.Thread:
    thread = threading.Thread(
        target=_loop, args=(connection, settings, stopping), name="upkeep", daemon=True
    )
    with runtime.stop_signals_blocked():  # SIGTERM must reach the main thread
        thread.start()
    return thread


def _loop(connection: Redis, settings: Settings, stopping: threading.Event) -> None:
    failures, pause = 0, EVERY_S
    while not stopping.wait(pause):
        try:
            run_due(connection, settings)
            failures, pause = 0, EVERY_S
        except RedisError as exc:
            failures += 1
            pause = backoff_s(failures)
            log.error(
                "worker.redis_fault",
                extra={
                    "fault": redis_fault(exc),
                    "where": "upkeep",
                    "error": str(exc)[:200],
                    "retry_in_s": round(pause, 2),
                },
            )
        except Exception:  # a bug must not end the thread that recovers drain jobs
            failures += 1
            pause = backoff_s(failures)
            log.exception("worker.upkeep_failed", extra={"retry_in_s": round(pause, 2)})
