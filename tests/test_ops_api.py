"""Dead letters, metrics and the queue dashboard through the Flask app."""

from __future__ import annotations

import base64

import pytest
import redis as redis_lib
from flask.testing import FlaskClient
from rq import Queue, SimpleWorker, get_current_job

from config.settings import Settings
from tests.conftest import OPS_TOKEN
from tests.support.ncs import encode, recording_event, signed_headers
from tests.support.workers import run_burst
from workers import deadletters, keys, recordings
from workers.queues import CONTROL_QUEUE, JobPolicy

AUTH = {"Authorization": f"Bearer {OPS_TOKEN}"}


def basic(password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"ops:{password}".encode()).decode()}


def fail_once_then_succeed(flag_key: str) -> str:
    """A job for tests: fails while ``flag_key`` is set in Redis."""
    job = get_current_job()
    assert job is not None
    if job.connection.exists(flag_key):
        raise RuntimeError("the dependency is down")
    job.connection.set(f"{flag_key}:done", 1)
    return "done"


def work_with_dead_letters(redis: redis_lib.Redis) -> None:
    worker = SimpleWorker(
        [CONTROL_QUEUE], connection=redis, exception_handlers=[deadletters.on_job_exception]
    )
    worker.work(burst=True, logging_level="WARNING")


def test_a_job_that_fails_for_good_becomes_a_dead_letter_and_replays(
    client: FlaskClient, redis: redis_lib.Redis, settings: Settings
) -> None:
    redis.set("flag", 1)
    Queue(CONTROL_QUEUE, connection=redis).enqueue(
        "tests.test_ops_api.fail_once_then_succeed", "flag"
    )
    work_with_dead_letters(redis)
    listed = client.get("/api/dead-letters", headers=AUTH).json
    assert listed["count"] == 1
    (letter,) = listed["dead_letters"]
    assert letter["func"] == "tests.test_ops_api.fail_once_then_succeed"
    assert letter["args"] == ["flag"]
    assert letter["error"] == "RuntimeError: the dependency is down"
    redis.delete("flag")
    replayed = client.post(f"/api/dead-letters/{letter['id']}/replay", headers=AUTH)
    assert replayed.status_code == 202 and len(replayed.json["replays"]) == 1
    work_with_dead_letters(redis)
    assert redis.get("flag:done") == b"1"
    assert client.post("/api/dead-letters/nope/replay", headers=AUTH).status_code == 404
    assert client.get("/api/dead-letters").status_code == 401


def test_a_failed_drain_keeps_its_events_and_replays_them(
    client: FlaskClient, redis: redis_lib.Redis
) -> None:
    body = encode(recording_event(40, sid="POISON"))
    assert client.post("/agora/ncs", data=body, headers=signed_headers(body)).status_code == 200
    redis.rpush(keys.inbox("s:POISON"), b"not json")  # a poisoned entry behind a good one
    job = Queue("recbridge-events", connection=redis).get_jobs()[0]
    job.retries_left = 0
    job.save()
    SimpleWorker(
        ["recbridge-events"], connection=redis, exception_handlers=[deadletters.on_job_exception]
    ).work(burst=True)
    (letter,) = deadletters.list_letters(redis, 10)
    assert letter["kind"] == "events" and letter["args"] == ["s:POISON"]
    assert redis.llen(keys.inbox("s:POISON")) == 2  # nothing lost
    redis.rpop(keys.inbox("s:POISON"))  # the operator removes the poison...
    deadletters.replay(redis, letter["id"], JobPolicy(60, ()))  # ...and replays
    run_burst(redis)
    assert client.get("/api/sessions/POISON", headers=AUTH).json["state"] == "recording"


def test_metrics_count_outcomes(client: FlaskClient, redis: redis_lib.Redis) -> None:
    body = encode(recording_event(40, sid="M1"))
    client.post("/agora/ncs", data=body, headers=signed_headers(body))
    client.post("/agora/ncs", data=body, headers=signed_headers(body))
    client.post("/agora/ncs", data=body, headers=signed_headers(body, "wrong"))
    run_burst(redis)
    text = client.get("/metrics").get_data(as_text=True)
    for line in (
        'recbridge_ncs_callbacks_total{outcome="accepted"}',
        'recbridge_ncs_callbacks_total{outcome="duplicate"}',
        'recbridge_ncs_callbacks_total{outcome="invalid_signature"}',
        'recbridge_ncs_events_total{event_type="40",product="3"}',
        'recbridge_sessions{state="recording"} 1.0',
        'recbridge_queue_jobs{queue="recbridge-events"} 0.0',
        "recbridge_event_apply_latency_seconds_count",
        "recbridge_redis_up 1.0",
    ):
        assert line in text, line


@pytest.mark.parametrize(
    "path", ["/rq", "/rq/", "/rq/0/data/queues.json", "/rq/queue/x/empty", "/rq/job/x/delete"]
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_rq_dashboard_is_gone(client: FlaskClient, path: str, method: str) -> None:
    """rq-dashboard changed state through GETs without CSRF: the console's Health page
    replaces it, and its old URLs answer 404, never 500."""
    answer = client.open(path, method=method, headers=basic(OPS_TOKEN))
    assert answer.status_code == 404
    assert answer.json["error"] == "not_found"


def test_a_stop_request_says_a_stop_is_on_its_way(
    client: FlaskClient, redis: redis_lib.Redis
) -> None:
    recording, _ = recordings.create(redis, recordings.new_recording("demo", None, 300, "api"))
    answer = client.post(f"/api/recordings/{recording['id']}/stop", headers=AUTH)
    assert answer.status_code == 202
    asked_ms = answer.json["stop_requested_ms"]
    assert isinstance(asked_ms, int) and asked_ms >= recording["created_ms"]
    assert answer.json["state"] in recordings.RECORDING_STATES
    again = client.post(f"/api/recordings/{recording['id']}/stop", headers=AUTH)
    assert again.json["stop_requested_ms"] == asked_ms  # the first request's time stays
    shown = client.get(f"/api/recordings/{recording['id']}", headers=AUTH).json
    assert shown["stop_requested_ms"] == asked_ms
    assert Queue(CONTROL_QUEUE, connection=redis).get_jobs()  # the stop itself is a job
