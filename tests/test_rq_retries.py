"""RQ 3 quirks that touch recbridge's jobs."""

from __future__ import annotations

import redis as redis_lib
from rq import Queue
from rq.job import Job, JobStatus

from tests.support.workers import run_burst
from workers import jobs
from workers.queues import EVENTS_QUEUE, JobPolicy


def test_a_retried_abandoned_job_succeeds(redis: redis_lib.Redis) -> None:
    """A worker died during the job's first run: RQ retries it, and the execution registry
    of the job still lists the dead run's execution, whose hash has expired. The retry
    used to fail with "Execution ... not found" when RQ deleted the finished job."""
    job_id = jobs.enqueue(redis, JobPolicy(60, (0,)), jobs.DRAIN_READY)
    redis.zadd(f"rq:executions:{job_id}", {"a-dead-workers-execution": 9e12})
    run_burst(redis)
    assert Queue(EVENTS_QUEUE, connection=redis).failed_job_registry.count == 0
    if redis.exists(Job.key_for(job_id)):
        assert Job.fetch(job_id, connection=redis).get_status() == JobStatus.FINISHED
