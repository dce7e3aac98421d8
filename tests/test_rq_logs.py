"""RQ's own log lines carry stable event names, and an idle service writes (almost) nothing."""

from __future__ import annotations

import json

import pytest
import redis as redis_lib
from rq import Worker

from config.rq_logs import rq_event
from tests.support import processes
from tests.support.processes import wait_until

# Texts RQ 3 writes, as seen in a `make run` log.
SEEN = {
    "Worker 1b2c: started with PID 12541, version 3.0.0": "rq.worker.started",
    "*** Listening on recbridge-control, recbridge-events...": "rq.worker.listening",
    "Worker 1b2c: cleaning registries for queue: recbridge-events": "rq.worker.maintenance",
    "Worker 1b2c: subscribing to channel rq:pubsub:1b2c": "rq.worker.pubsub",
    "Worker 1b2c [PID 7]: warm shut down requested": "rq.worker.stop_requested",
    "Worker 1b2c: recbridge-events: workers.drain.watch_drainers() (e61c)": "rq.job.started",
    "Successfully completed workers.drain.watch_drainers() job in 0:00:00.01s on worker 1b2c": (
        "rq.job.completed"
    ),
    "Worker 1b2c: recbridge-events: Job OK (e61c)": "rq.job.finished",
    "Worker 1b2c: job e61c result is kept for 1 seconds": "rq.job.result",
    "Worker 1b2c: job e61c failed (Traceback ...)": "rq.job.failed",
    "Acquired scheduler lock for recbridge-control": "rq.scheduler.lock_acquired",
    "Scheduler for recbridge-control, recbridge-events started with PID 12573": (
        "rq.scheduler.started"
    ),
    "Scheduler with PID 12573 has stopped": "rq.scheduler.stopped",
    "Enqueued job watch_leases to queue recbridge-control": "rq.cron.enqueued",
    "CronScheduler vm:12545:20e832: starting...": "rq.cron.starting",
    "CronScheduler vm:12545:20e832: shutdown complete": "rq.cron.stopping",
}


@pytest.mark.parametrize(("text", "event"), SEEN.items())
def test_each_rq_line_has_a_name(text: str, event: str) -> None:
    assert rq_event("rq.worker", text) == event


@pytest.mark.integration
def test_an_idle_worker_and_clock_stay_quiet(redis_url: str, redis: redis_lib.Redis) -> None:
    env = {"REDIS_URL": redis_url}
    worker, clock = processes.start("worker", env), processes.start("clock", env)
    try:
        # The clock's watchdogs run every 5 s: wait for a few of their jobs to be done.
        wait_until(
            lambda: sum(w.successful_job_count for w in Worker.all(connection=redis)) >= 6,
            120,
            "six periodic jobs",
        )
    finally:
        outputs = [processes.stop(p) for p in (worker, clock)]
    lines = [line for out, err in outputs for line in (out + err).splitlines() if line]
    records = [json.loads(line) for line in lines]
    events = [r["event"] for r in records if r["logger"].startswith("rq.")]
    assert all(e.startswith("rq.") and not e.endswith(".other") for e in events), events
    assert not {"rq.job.started", "rq.job.finished", "rq.cron.enqueued"} & set(events)
    assert len(lines) < 40, lines  # start-up and shutdown only, however long it idled
