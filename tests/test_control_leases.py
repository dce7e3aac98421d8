"""Control-job leases: the recovery of a dead job's lease, and the heartbeat that keeps a
running job's lease and recording lock alive."""

from __future__ import annotations

import threading
import time

import orjson
import pytest
import redis as redis_lib
from redis.exceptions import LockNotOwnedError
from rq import Queue

from config.settings import Settings
from tests.support.processes import wait_until
from workers import jobs, keys
from workers.control import leases
from workers.control.calls import Budget, call
from workers.control.policy import Step
from workers.queues import CONTROL_QUEUE, JobPolicy

POLICY = JobPolicy(60, (1,))


def dead_lease(redis: redis_lib.Redis, job_id: str, func: str, resumes: int = 0) -> None:
    description = {"func": func, "args": ["rec1"], "kwargs": {}, "resumes": resumes}
    redis.zadd(keys.CONTROL_LEASES, {job_id: 1})  # ran out long ago
    redis.set(keys.control_lease(job_id), orjson.dumps(description))


def test_a_dead_jobs_lease_queues_the_same_job_once(redis: redis_lib.Redis) -> None:
    dead_lease(redis, "dead-1", jobs.RUN_STOP.func)
    redis.zadd(keys.CONTROL_LEASES, {"alive": 2**50})
    assert leases.recover(redis, POLICY) == 1
    assert leases.recover(redis, POLICY) == 0  # claimed and gone: no second successor
    queue = Queue(CONTROL_QUEUE, connection=redis)
    [job] = queue.get_jobs()
    assert (job.func_name, job.args, job.meta["resumes"]) == (jobs.RUN_STOP.func, ("rec1",), 1)
    assert job.meta["resumed_from"] == "dead-1"
    assert redis.zrange(keys.CONTROL_LEASES, 0, -1) == [b"alive"]
    assert not redis.exists(keys.control_lease("dead-1"))


def test_a_job_that_keeps_killing_its_worker_is_given_up(redis: redis_lib.Redis) -> None:
    dead_lease(redis, "poison", jobs.RUN_START.func, resumes=leases.MAX_RESUMES)
    assert leases.recover(redis, POLICY) == 0
    assert Queue(CONTROL_QUEUE, connection=redis).count == 0
    assert redis.zcard(keys.CONTROL_LEASES) == 0


def test_the_heartbeat_keeps_the_lease_and_a_held_lock_alive(
    redis: redis_lib.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leases, "RENEW_EVERY_S", 0.05)
    redis.zadd(keys.CONTROL_LEASES, {"job": 1})
    lock = redis.lock("rb:test-lock", timeout=1, thread_local=False)
    assert lock.acquire(blocking=False)
    leases.hold(lock)
    stop = threading.Event()
    beat = threading.Thread(target=leases._beat, args=(redis, "job", stop))
    beat.start()
    try:
        # Past the lock's own one-second TTL it is still held, renewed by the heartbeat.
        seconds, micros = redis.time()
        start_ms = seconds * 1000 + micros // 1000
        past_ttl = time.monotonic() + 2.5
        while time.monotonic() < past_ttl:
            time.sleep(0.1)
        assert lock.owned()
        renewed = redis.zscore(keys.CONTROL_LEASES, "job")
        assert renewed is not None and renewed > start_ms
    finally:
        stop.set()
        beat.join()
        leases.release(lock)


def take_lease(redis: redis_lib.Redis, job_id: str) -> None:
    leases.TAKE.run(
        redis, [keys.CONTROL_LEASES, keys.control_lease(job_id)], [job_id, leases.LEASE_S, "{}", 60]
    )


@pytest.mark.parametrize("taken_by", ["nobody", "a recoverer's claim"])
def test_a_live_job_keeps_its_lease_until_a_recoverer_claims_it(
    redis: redis_lib.Redis, monkeypatch: pytest.MonkeyPatch, taken_by: str
) -> None:
    """Renewals of a live job's lease keep it the job's (a renewal that answered "not
    renewed" once superseded every control job running longer than RENEW_EVERY_S, and left
    its recording `starting` for good); only a recoverer's claim takes it away."""
    monkeypatch.setattr(leases, "RENEW_EVERY_S", 0.05)
    leases._superseded.clear()
    take_lease(redis, "job")
    scores: list[float] = []
    stop = threading.Event()
    beat = threading.Thread(target=leases._beat, args=(redis, "job", stop))
    beat.start()
    try:

        def renewed_three_times() -> bool:
            score = redis.zscore(keys.CONTROL_LEASES, "job")
            if score is not None and (not scores or score > scores[-1]):
                scores.append(score)
            return len(scores) >= 4 or leases._superseded.is_set()

        wait_until(renewed_three_times, 30, "three renewals")
        assert not leases._superseded.is_set()
        if taken_by != "nobody":
            leases.CLAIM_DEAD.run(redis, [keys.CONTROL_LEASES], [leases.CLAIM_S, 50])  # not dead
            assert not leases._superseded.is_set()
            redis.zadd(keys.CONTROL_LEASES, {"job": (time.time() + leases.CLAIM_S) * 1000})
            wait_until(leases._superseded.is_set, 30, "the heartbeat noticing the claim")
    finally:
        stop.set()
        beat.join()
        leases._superseded.clear()


def test_a_job_whose_lease_was_taken_over_calls_agora_no_more(
    redis: redis_lib.Redis, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    """A worker held back past LEASE_S (a loaded machine) finds, at its next renewal, that a
    recoverer took its lease and queued a successor: it must not start or stop again."""
    monkeypatch.setattr(leases, "RENEW_EVERY_S", 0.05)
    leases._superseded.clear()
    take_lease(redis, "job")
    stop = threading.Event()
    beat = threading.Thread(target=leases._beat, args=(redis, "job", stop))
    beat.start()
    try:
        budget = Budget()
        assert call(Step.START, lambda: "sent", budget, settings) == "sent"  # still ours
        redis.zrem(keys.CONTROL_LEASES, "job")  # what recover() does before it re-queues
        wait_until(leases._superseded.is_set, 30, "the heartbeat noticing")
        sent: list[str] = []
        with pytest.raises(leases.Superseded):
            call(Step.START, lambda: sent.append("start"), budget, settings)
        assert sent == []
    finally:
        stop.set()
        beat.join()
        leases._superseded.clear()


def test_a_superseded_job_ends_quietly_also_when_its_lock_release_fails() -> None:
    """Leaving ``with lock:`` after the successor took the lock raises LockNotOwnedError;
    for a superseded job that is the quiet ending, not an error for RQ to retry."""
    lost = LockNotOwnedError("the successor holds it")
    leases._superseded.clear()
    try:
        assert leases.ends_superseded(leases.Superseded("taken over"))
        assert not leases.ends_superseded(lost)  # a live job losing its lock is an error
        leases._superseded.set()
        assert leases.ends_superseded(lost)
        assert not leases.ends_superseded(RuntimeError("other"))
    finally:
        leases._superseded.clear()
