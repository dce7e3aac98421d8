"""Every RQ job recbridge runs, declared once: function, queue, timeout, TTLs and who owns
its retry; and the one ``enqueue`` that honours the declaration.

Each job has exactly one retry owner (``RetryOwner``):

- ``RQ``: the job raises and RQ runs it again on ``JOB_RETRY_INTERVALS_S``.
- ``JOB``: the job schedules its own successor (a poll, a stop waiting out a failover); it
  must not raise into RQ's retry, so it is enqueued without one. A failed poll that both
  scheduled a successor and raised into RQ's retry added a polling loop per failure.
- ``NEXT_TICK``: a periodic job (workers' upkeep, or a clock); its next run is the retry.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from redis.client import Pipeline
from rq import Queue
from rq.job import JobStatus

from workers.queues import CONTROL_QUEUE, EVENTS_QUEUE, NOTIFY_QUEUE, JobPolicy

DRAIN_TIMEOUT_S = 60
CONTROL_TIMEOUT_S = 180
PUBLIC_RESULT_TTL_S = 500  # RQ's default: callers of the public jobs may read the result
# Results nobody reads are kept one second rather than none: RQ 3 deletes a job with
# result_ttl 0 the moment it succeeds, and that deletion fails ("Execution ... not found")
# while the job's execution registry still lists the expired execution of a dead worker's
# earlier run (for 60 s), so an abandoned job's retry failed again, up to a dead letter.
DISCARDED_RESULT_TTL_S = 1


class RetryOwner(enum.Enum):
    RQ = "rq"
    JOB = "job"
    NEXT_TICK = "next_tick"


@dataclass(frozen=True)
class JobSpec:
    func: str  # dotted path RQ imports; stable, since queued jobs name it
    queue: str
    timeout_s: int
    retry: RetryOwner
    result_ttl_s: int = DISCARDED_RESULT_TTL_S
    interval_s: int | None = None  # periodic jobs: how often the clock runs them

    @property
    def short_name(self) -> str:
        return self.func.rsplit(".", 1)[-1]


# Drains: a failed drain loses nothing (its events stay in the inbox); RQ runs it again.
DRAIN_READY = JobSpec("workers.drain.drain_ready", EVENTS_QUEUE, DRAIN_TIMEOUT_S, RetryOwner.RQ)
DRAIN_STREAM = JobSpec("workers.drain.drain", EVENTS_QUEUE, DRAIN_TIMEOUT_S, RetryOwner.RQ)
# Control. Start retries its Agora calls inside the job (see workers.control.policy) and
# RQ covers what outlasts them (Redis down); stop and poll reschedule themselves.
START_RECORDING = JobSpec(
    "workers.control.start_recording",
    CONTROL_QUEUE,
    CONTROL_TIMEOUT_S,
    RetryOwner.RQ,
    result_ttl_s=PUBLIC_RESULT_TTL_S,
)
STOP_RECORDING = JobSpec(
    "workers.control.stop_recording",
    CONTROL_QUEUE,
    CONTROL_TIMEOUT_S,
    RetryOwner.JOB,
    result_ttl_s=PUBLIC_RESULT_TTL_S,
)
RUN_START = JobSpec("workers.control.run_start", CONTROL_QUEUE, CONTROL_TIMEOUT_S, RetryOwner.RQ)
RUN_STOP = JobSpec("workers.control.run_stop", CONTROL_QUEUE, CONTROL_TIMEOUT_S, RetryOwner.JOB)
POLL = JobSpec("workers.control.poll", CONTROL_QUEUE, CONTROL_TIMEOUT_S, RetryOwner.JOB)
RECONCILE = JobSpec("workers.control.reconcile", CONTROL_QUEUE, CONTROL_TIMEOUT_S, RetryOwner.RQ)
# fidelity: end a task the recording no longer wants (reschedules itself until Agora no
# longer knows it); auto-record's check after the last person left; a live uid change.
RETIRE_TASK = JobSpec(
    "workers.control.retire_task", CONTROL_QUEUE, CONTROL_TIMEOUT_S, RetryOwner.JOB
)
AUTORECORD_CHECK = JobSpec(
    "workers.autorecord.check_idle_job", CONTROL_QUEUE, CONTROL_TIMEOUT_S, RetryOwner.RQ
)
UPDATE_UIDS = JobSpec(
    "workers.control.update_uids", CONTROL_QUEUE, CONTROL_TIMEOUT_S, RetryOwner.RQ
)
# Periodic: every worker's upkeep thread runs them (workers.upkeep), and any clock queues
# them (config/schedule.py); each claims its slot first (workers.periodic). The drain
# watch runs every 2 s so a dead drain job (lease 10 s) is recovered within 15 s.
WATCH_DRAINERS = JobSpec(
    "workers.drain.watch_drainers", EVENTS_QUEUE, 30, RetryOwner.NEXT_TICK, interval_s=2
)
WATCH_LEASES = JobSpec(
    "workers.control.leases.watch_leases", CONTROL_QUEUE, 30, RetryOwner.NEXT_TICK, interval_s=5
)
SWEEP_SESSIONS = JobSpec(
    "workers.session_queries.sweep_expired_job",
    CONTROL_QUEUE,
    300,
    RetryOwner.NEXT_TICK,
    interval_s=3600,
)
COMPACT_SESSIONS = JobSpec(
    "workers.compaction.compact_due_job", EVENTS_QUEUE, 300, RetryOwner.NEXT_TICK, interval_s=300
)
# Notifications: a delivery job schedules its successor (and a sweep); a failed attempt is
# retried by the delivery's own schedule (NOTIFY_RETRY_SCHEDULE_S), never by RQ.
DELIVER_NOTIFICATIONS = JobSpec(
    "workers.notify.delivery.deliver", NOTIFY_QUEUE, 120, RetryOwner.JOB
)

SWEEP_SILENT = JobSpec(
    "workers.control.tasks.sweep_silent_job",
    CONTROL_QUEUE,
    300,
    RetryOwner.NEXT_TICK,
    interval_s=300,
)

REGISTRY: dict[str, JobSpec] = {
    spec.func: spec
    for spec in (
        DRAIN_READY,
        DRAIN_STREAM,
        START_RECORDING,
        STOP_RECORDING,
        RUN_START,
        RUN_STOP,
        POLL,
        RECONCILE,
        RETIRE_TASK,
        AUTORECORD_CHECK,
        UPDATE_UIDS,
        SWEEP_SILENT,
        WATCH_DRAINERS,
        WATCH_LEASES,
        SWEEP_SESSIONS,
        COMPACT_SESSIONS,
        DELIVER_NOTIFICATIONS,
    )
}
PERIODIC = tuple(spec for spec in REGISTRY.values() if spec.interval_s is not None)


def spec_for(func: str) -> JobSpec | None:
    return REGISTRY.get(func)


def new_job_id(spec: JobSpec, args: tuple[Any, ...]) -> str:
    # A fresh id each time: a finishing job must never delete the hash of its successor.
    first = str(args[0]) if args else "x"
    return f"{spec.short_name}-{first}-{secrets.token_hex(4)}"


def enqueue(
    connection: Redis,
    policy: JobPolicy,
    spec: JobSpec,
    *args: Any,
    kwargs: dict[str, Any] | None = None,
    delay_s: float = 0.0,
    job_id: str | None = None,
    description: str | None = None,
    meta: dict[str, Any] | None = None,
    pipeline: Pipeline | None = None,
) -> str:
    """Queue ``spec`` with ``args`` (after ``delay_s``); returns the job id."""
    job_id = job_id or new_job_id(spec, args)
    queue = Queue(spec.queue, connection=connection)
    options: dict[str, Any] = {
        "job_id": job_id,
        "timeout": spec.timeout_s,
        "result_ttl": spec.result_ttl_s,
        "failure_ttl": policy.failure_ttl_s,
        "retry": policy.retry() if spec.retry is RetryOwner.RQ else None,
        "description": description,
        "meta": meta,
    }
    if delay_s > 0:
        job = queue.create_job(
            spec.func, args=args, kwargs=kwargs, status=JobStatus.SCHEDULED, **options
        )
        at = datetime.now(UTC) + timedelta(seconds=delay_s)
        queue.schedule_job(job, at, pipeline=pipeline)
    else:
        queue.enqueue_call(spec.func, args=args, kwargs=kwargs, pipeline=pipeline, **options)
    return job_id
