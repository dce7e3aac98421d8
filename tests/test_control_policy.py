"""One owner per retry, as data: the job registry, the (step, verdict) table row by row,
and the worst case of a job's in-job retries against its timeout and lock TTL."""

from __future__ import annotations

from typing import Any

import pytest
import redis as redis_lib
from rq import Queue
from rq.registry import ScheduledJobRegistry
from rq.utils import import_attribute

from config.settings import Settings, SettingsError
from workers import jobs, recordings, runtime
from workers.agora.answers import AgoraError, Meaning, Retry, Verdict
from workers.control import leases, polling, scheduling, starting, stopping
from workers.control.calls import (
    CONTROL_BUDGET_S,
    LOCK_TTL_S,
    Budget,
    BudgetSpent,
    worst_call_s,
)
from workers.control.policy import TABLE, InCall, Next, Step, next_action, rule
from workers.queues import CONTROL_QUEUE, JobPolicy
from workers.ratelimit import RateLimitTimeout, SharedRateLimit

# ---- the registry ------------------------------------------------------------------


@pytest.mark.parametrize("spec", list(jobs.REGISTRY.values()), ids=lambda s: s.func)
def test_every_registered_job_imports(spec: jobs.JobSpec) -> None:
    assert callable(import_attribute(spec.func))
    assert spec.timeout_s > 0


@pytest.mark.parametrize("spec", list(jobs.REGISTRY.values()), ids=lambda s: s.func)
def test_enqueue_gives_rq_retry_only_to_jobs_rq_retries(
    redis: redis_lib.Redis, spec: jobs.JobSpec
) -> None:
    job_id = jobs.enqueue(redis, JobPolicy(60, (1, 5)), spec, "a", "b")
    job = Queue(spec.queue, connection=redis).fetch_job(job_id)
    assert job is not None and job.func_name == spec.func and job.timeout == spec.timeout_s
    assert (job.retries_left == 2) is (spec.retry is jobs.RetryOwner.RQ)
    assert job.failure_ttl == 60 and job.result_ttl == spec.result_ttl_s


def test_jobs_that_schedule_their_successor_are_not_retried_by_rq() -> None:
    assert jobs.POLL.retry is jobs.RetryOwner.JOB
    assert jobs.RUN_STOP.retry is jobs.RetryOwner.JOB
    assert all(spec.retry is jobs.RetryOwner.NEXT_TICK for spec in jobs.PERIODIC)


def test_a_delayed_enqueue_is_scheduled(redis: redis_lib.Redis) -> None:
    job_id = jobs.enqueue(redis, JobPolicy(60, ()), jobs.POLL, "r", "s", delay_s=30)
    registry = ScheduledJobRegistry(CONTROL_QUEUE, connection=redis)
    assert registry.get_job_ids() == [job_id]
    assert Queue(CONTROL_QUEUE, connection=redis).count == 0


# ---- the table, row by row ------------------------------------------------------------

ROWS: list[tuple[Step, Meaning, InCall, Next]] = [
    (Step.ACQUIRE, Meaning.NETWORK, InCall.BACKOFF, Next.RESTART),
    (Step.ACQUIRE, Meaning.SERVER, InCall.BACKOFF, Next.RESTART),
    (Step.ACQUIRE, Meaning.RATE_LIMITED, InCall.BACKOFF, Next.RESTART),
    (Step.ACQUIRE, Meaning.OVERLOADED, InCall.BACKOFF, Next.RESTART),
    (Step.ACQUIRE, Meaning.CONFIGURATION, InCall.NONE, Next.FAIL),
    (Step.ACQUIRE, Meaning.RESOURCE_EXPIRED, InCall.NONE, Next.RESTART),
    (Step.ACQUIRE, Meaning.NOT_FOUND, InCall.NONE, Next.RESTART),
    (Step.ACQUIRE, Meaning.UNKNOWN, InCall.NONE, Next.RESTART),
    (Step.START, Meaning.NETWORK, InCall.BACKOFF, Next.RESTART),
    (Step.START, Meaning.SERVER, InCall.BACKOFF, Next.RESTART),
    (Step.START, Meaning.RATE_LIMITED, InCall.BACKOFF, Next.RESTART),
    (Step.START, Meaning.OVERLOADED, InCall.BACKOFF, Next.RESTART),
    (Step.START, Meaning.NOT_COMPLETED, InCall.START_SCHEDULE, Next.RESTART),
    (Step.START, Meaning.ALREADY_STARTED, InCall.NONE, Next.ACCEPT),
    (Step.START, Meaning.CONFIGURATION, InCall.NONE, Next.FAIL),
    (Step.START, Meaning.NO_WORKER, InCall.NONE, Next.RESTART),
    (Step.START, Meaning.TASK_CONFLICT, InCall.NONE, Next.RESTART),
    (Step.START, Meaning.RESOURCE_EXPIRED, InCall.NONE, Next.RESTART),
    (Step.START, Meaning.NOT_FOUND, InCall.NONE, Next.RESTART),
    (Step.QUERY, Meaning.NETWORK, InCall.BACKOFF, Next.RESCHEDULE),
    (Step.QUERY, Meaning.SERVER, InCall.BACKOFF, Next.RESCHEDULE),
    (Step.QUERY, Meaning.RATE_LIMITED, InCall.BACKOFF, Next.RESCHEDULE),
    (Step.QUERY, Meaning.NOT_FOUND, InCall.NONE, Next.FAILOVER_WAIT),
    (Step.QUERY, Meaning.CONFIGURATION, InCall.NONE, Next.RESCHEDULE),
    (Step.QUERY, Meaning.UNKNOWN, InCall.NONE, Next.RESCHEDULE),
    (Step.STOP, Meaning.NETWORK, InCall.BACKOFF, Next.RESCHEDULE),
    (Step.STOP, Meaning.SERVER, InCall.BACKOFF, Next.RESCHEDULE),
    (Step.STOP, Meaning.RATE_LIMITED, InCall.BACKOFF, Next.RESCHEDULE),
    (Step.STOP, Meaning.NOT_FOUND, InCall.NONE, Next.FAILOVER_WAIT),
    (Step.STOP, Meaning.CONFIGURATION, InCall.NONE, Next.FAIL),
    (Step.STOP, Meaning.NOTHING_RECORDED, InCall.NONE, Next.ACCEPT),
    (Step.STOP, Meaning.ALREADY_STOPPING, InCall.NONE, Next.ACCEPT),
    (Step.STOP, Meaning.EXITING, InCall.NONE, Next.ACCEPT),
    (Step.STOP, Meaning.UPLOAD_TIMEOUT, InCall.NONE, Next.ACCEPT),
    (Step.STOP, Meaning.UNKNOWN, InCall.NONE, Next.RESCHEDULE),
]


@pytest.mark.parametrize(("step", "meaning", "in_call", "then"), ROWS)
def test_the_table(step: Step, meaning: Meaning, in_call: InCall, then: Next) -> None:
    assert (rule(step, meaning).in_call, rule(step, meaning).then) == (in_call, then)
    first = next_action(step, meaning, 1)
    assert first is (Next.RETRY_IN_CALL if in_call is not InCall.NONE else then)
    assert next_action(step, meaning, 4) is then  # in-call retries are over


def test_every_step_answers_every_verdict() -> None:
    assert set(TABLE) == {(step, meaning) for step in Step for meaning in Meaning}


def test_no_row_raises_into_rq() -> None:
    # Query and stop reschedule themselves: none of their rows may leave the job failing.
    for (step, _), row in TABLE.items():
        if step in (Step.QUERY, Step.STOP):
            assert row.then in (Next.RESCHEDULE, Next.FAILOVER_WAIT, Next.FAIL, Next.ACCEPT)


# ---- worst case against the job timeout and the lock TTL ------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class SlowFailingClient:
    """Every call takes its worst case (the longest rate-limit wait, then a timeout)."""

    def __init__(self, clock: Clock, settings: Settings) -> None:
        self.clock, self.settings, self.calls = clock, settings, 0

    def _fail(self, step: Step) -> Any:
        self.calls += 1
        self.clock.now += worst_call_s(step, self.settings)
        verdict = Verdict(Meaning.SERVER, Retry.BACKOFF)
        raise AgoraError(step.value, 503, None, "down", verdict)

    def acquire(self, *args: Any) -> str:
        return str(self._fail(Step.ACQUIRE))

    def start(self, *args: Any) -> dict[str, Any]:
        return dict(self._fail(Step.START))

    def query(self, *args: Any) -> dict[str, Any]:
        return dict(self._fail(Step.QUERY))

    def stop(self, *args: Any) -> dict[str, Any]:
        return dict(self._fail(Step.STOP))


@pytest.fixture
def slow_agora(monkeypatch: pytest.MonkeyPatch) -> tuple[Clock, Settings, SlowFailingClient]:
    clock = Clock()
    settings = Settings(agora_app_id="app", agora_customer_id="c", job_retry_intervals_s=(1,))
    client = SlowFailingClient(clock, settings)
    monkeypatch.setattr(runtime, "agora_client", lambda connection: client)
    return clock, settings, client


def budget(clock: Clock) -> Budget:
    return Budget(clock=clock, sleep=clock.sleep)


def stored(redis: redis_lib.Redis, **changes: Any) -> dict[str, Any]:
    recording = recordings.new_recording("room", None, 300, "test")
    recording.update(changes)
    recordings.create(redis, recording)
    return recording


def test_budget_fits_inside_the_job_timeout_and_the_lease_outlives_renewals() -> None:
    assert CONTROL_BUDGET_S < jobs.CONTROL_TIMEOUT_S
    # A held recording lock is extended with the lease: missing two renewals never frees it.
    assert LOCK_TTL_S == leases.LEASE_S >= 3 * leases.RENEW_EVERY_S


def test_worst_case_start_stays_inside_the_budget(redis: redis_lib.Redis, slow_agora: Any) -> None:
    clock, settings, client = slow_agora
    recording = stored(redis)
    with pytest.raises(BudgetSpent):
        starting.start(redis, settings, recording["id"], budget(clock))
    assert client.calls >= 3  # it did retry in the call
    assert clock.now <= CONTROL_BUDGET_S
    assert recordings.load(redis, recording["id"])["state"] == "starting"  # type: ignore[index]


def test_worst_case_poll_stays_inside_the_budget_and_schedules_one_successor(
    redis: redis_lib.Redis, slow_agora: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, settings, client = slow_agora
    monkeypatch.setattr(polling, "Budget", lambda: budget(clock))
    recording = stored(redis, state="active", sid="S", resource_id="R", recorder_uid="9")
    polling.poll(redis, settings, recording["id"], "S")  # does not raise
    assert client.calls == 3 and clock.now <= CONTROL_BUDGET_S
    scheduled = ScheduledJobRegistry(CONTROL_QUEUE, connection=redis).get_job_ids()
    assert len(scheduled) == 1
    job = Queue(CONTROL_QUEUE, connection=redis).fetch_job(scheduled[0])
    assert job is not None and job.func_name == jobs.POLL.func and job.retries_left is None


def test_worst_case_stop_stays_inside_the_budget_then_reschedules_itself(
    redis: redis_lib.Redis, slow_agora: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, settings, client = slow_agora
    monkeypatch.setattr(stopping, "Budget", lambda: budget(clock))
    recording = stored(redis, state="active", sid="S", resource_id="R", recorder_uid="9")
    assert stopping.stop(redis, settings, recording["id"]) == "stopping"
    assert client.calls >= 2 and clock.now <= CONTROL_BUDGET_S
    scheduled = ScheduledJobRegistry(CONTROL_QUEUE, connection=redis).get_job_ids()
    assert len(scheduled) == 1
    # Its own tries (JOB_RETRY_INTERVALS_S, one here) over, it fails for good.
    with pytest.raises(AgoraError):
        stopping.stop(redis, settings, recording["id"])


# ---- adaptive polling -------------------------------------------------------------------

NOW = 1_800_000_000_000
POLLING = Settings(
    recording_poll_s=60,
    recording_poll_silence_s=150,
    recording_poll_quiet_max_s=900,
)


def sess(state: str = "recording", heard_s_ago: float = 30, queried_s_ago: float = 120) -> Any:
    return {
        "state": state,
        "updated_ms": NOW - int(heard_s_ago * 1000),
        "observed": {"at_ms": NOW - int(queried_s_ago * 1000)},
    }


@pytest.mark.parametrize(
    ("confirmed", "session", "ask", "later_s"),
    [
        (False, sess(), True, 15),  # an unconfirmed start is queried soon
        (True, None, True, 60),  # nothing known
        (True, sess(state="failover"), True, 60),
        (True, sess(heard_s_ago=30), False, 120),  # callbacks fresh: look when overdue
        (True, sess(heard_s_ago=140, queried_s_ago=200), False, 60),
        (True, sess(heard_s_ago=151), True, 60),  # gone silent: query now
        (True, sess(heard_s_ago=120, queried_s_ago=100), True, 60),  # nothing since the query
        (True, sess(heard_s_ago=10, queried_s_ago=901), True, 60),  # at least every 15 min
    ],
)
def test_poll_plan(confirmed: bool, session: Any, ask: bool, later_s: float) -> None:
    rec = {"confirmed": confirmed}
    assert scheduling.poll_plan(POLLING, rec, session, NOW) == (ask, later_s)


def test_queries_leave_the_reserved_slots_to_starts_and_stops(redis: redis_lib.Redis) -> None:
    limit = SharedRateLimit(redis, "app", per_second=10, reserved=3)
    for _ in range(7):
        assert limit.acquire(max_wait_s=0, priority=False) == 0
    with pytest.raises(RateLimitTimeout):
        limit.acquire(max_wait_s=0, priority=False)  # the eighth query waits...
    for _ in range(3):
        assert limit.acquire(max_wait_s=0) == 0  # ...while starts and stops still go
    with pytest.raises(RateLimitTimeout):
        limit.acquire(max_wait_s=0)


# ---- settings -------------------------------------------------------------------------


def test_api_bases_keep_agora_api_base_working() -> None:
    assert Settings.from_env({}).api_bases == ("https://api.agora.io",)
    one = Settings.from_env({"AGORA_API_BASE": "https://api.sd-rtn.com/"})
    assert one.api_bases == ("https://api.sd-rtn.com",)
    two = Settings.from_env({"AGORA_API_BASES": "https://api.agora.io, https://api.sd-rtn.com"})
    assert two.api_bases == ("https://api.agora.io", "https://api.sd-rtn.com")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"AGORA_API_BASES": "https://a.example,ftp://b"}, "AGORA_API_BASES"),
        ({"AGORA_API_BASES": "https://a.example,https://a.example"}, "AGORA_API_BASES"),
        ({"AGORA_QPS": "3", "AGORA_QPS_RESERVED": "3"}, "AGORA_QPS_RESERVED"),
        ({"RECORDING_POLL_SILENCE_S": "0"}, "RECORDING_POLL_SILENCE_S"),
    ],
)
def test_bad_control_settings_are_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_only_the_current_poll_of_a_recording_queries(
    redis: redis_lib.Redis, slow_agora: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, settings, client = slow_agora
    monkeypatch.setattr(polling, "Budget", lambda: budget(clock))
    recording = stored(
        redis, state="active", sid="S", resource_id="R", recorder_uid="9", poll_job="poll-A"
    )
    polling.poll(redis, settings, recording["id"], "S", frozenset({"poll-B"}))
    assert client.calls == 0  # a second chain (e.g. a resumed job's) ends at once
    assert ScheduledJobRegistry(CONTROL_QUEUE, connection=redis).get_job_ids() == []
    polling.poll(redis, settings, recording["id"], "S", frozenset({"poll-C", "poll-A"}))
    assert client.calls == 3  # the current one (or a job resuming it) polls
    [successor] = ScheduledJobRegistry(CONTROL_QUEUE, connection=redis).get_job_ids()
    assert recordings.load(redis, recording["id"])["poll_job"] == successor  # type: ignore[index]
