import threading
import time

import orjson
import pytest
import redis as redis_lib
from flask.testing import FlaskClient
from rq import Queue

from config.settings import Secret, Settings
from tests.support.ncs import SECRET, channel_event, encode, recording_event, signed_headers
from tests.support.redis_server import RedisServer
from webhook import create_app
from workers import keys
from workers.queues import EVENTS_QUEUE


def post(client: FlaskClient, body: bytes, secret: str = SECRET, **headers: str):  # type: ignore[no-untyped-def]
    return client.post("/agora/ncs", data=body, headers={**signed_headers(body, secret), **headers})


def queued_jobs(redis: redis_lib.Redis) -> int:
    return Queue(EVENTS_QUEUE, connection=redis).count


def test_accepted_then_duplicate(client: FlaskClient, redis: redis_lib.Redis) -> None:
    body = encode(recording_event(40, sid="S1"))
    first = post(client, body)
    assert (first.status_code, first.json) == (200, {"status": "accepted"})
    again = post(client, body)
    assert (again.status_code, again.json) == (200, {"status": "duplicate"})
    assert redis.llen(keys.inbox("s:S1")) == 1
    assert queued_jobs(redis) == 1


def test_one_drain_job_for_many_events_of_a_session(
    client: FlaskClient, redis: redis_lib.Redis
) -> None:
    for seq in range(5):
        assert post(client, encode(recording_event(43, sid="S2", sequence=seq))).status_code == 200
    assert redis.llen(keys.inbox("s:S2")) == 5
    assert queued_jobs(redis) == 1


def test_a_redis_that_forgot_the_ingest_script_still_takes_callbacks(
    client: FlaskClient, redis: redis_lib.Redis
) -> None:
    assert post(client, encode(recording_event(43, sid="S9", sequence=1))).status_code == 200
    redis.script_flush()  # what a restarted Redis looks like to a running web worker
    assert post(client, encode(recording_event(43, sid="S9", sequence=2))).status_code == 200
    assert redis.llen(keys.inbox("s:S9")) == 2


def test_job_ids_are_safe_and_args_carry_no_secret(
    client: FlaskClient, redis: redis_lib.Redis
) -> None:
    post(client, encode(recording_event(40, sid="a:b.c_d-9")))
    (job,) = Queue(EVENTS_QUEUE, connection=redis).get_jobs()
    assert job.id.replace("-", "").isalnum()
    assert job.func_name == "workers.drain.drain_ready" and job.args == ()
    assert redis.lrange(keys.READY, 0, -1) == [b"s:a:b.c_d-9"]
    assert job.failure_ttl is not None and job.failure_ttl <= 30 * 24 * 3600
    assert job.timeout is not None
    for key in redis.keys("*"):
        if redis.type(key) == b"string":
            assert SECRET.encode() not in (redis.get(key) or b"")


def test_body_over_one_mib_is_refused_before_it_is_read(client: FlaskClient) -> None:
    response = client.post(
        "/agora/ncs",
        data=b"{" + b" " * (1024 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert (response.status_code, response.json["error"]) == (413, "too_large")


def test_exactly_one_mib_is_read_and_judged(client: FlaskClient) -> None:
    response = client.post(
        "/agora/ncs", data=b" " * (1024 * 1024), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401  # read whole, then refused for its signature


@pytest.mark.parametrize("secret", ["wrong-secret", ""])
def test_bad_signature(client: FlaskClient, redis: redis_lib.Redis, secret: str) -> None:
    body = encode(recording_event(40))
    response = post(client, body, secret=secret)
    assert (response.status_code, response.json) == (401, {"error": "invalid_signature"})
    assert redis.dbsize() == 0


def test_missing_signature(client: FlaskClient) -> None:
    response = client.post(
        "/agora/ncs", data=encode(recording_event(40)), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401


def test_signature_is_checked_before_the_json(client: FlaskClient) -> None:
    response = client.post(
        "/agora/ncs",
        data=b"not json",
        headers={"Content-Type": "application/json", "Agora-Signature-V2": "x"},
    )
    assert response.json == {"error": "invalid_signature"}


def test_rotation_accepts_old_and_new_secret(settings: Settings, redis: redis_lib.Redis) -> None:
    app = create_app(
        Settings(redis_url=settings.redis_url, ncs_secrets=(Secret("new-one"), Secret(SECRET)))
    )
    client = app.test_client()
    assert post(client, encode(recording_event(40)), secret=SECRET).status_code == 200
    assert post(client, encode(recording_event(40)), secret="new-one").status_code == 200
    assert post(client, encode(recording_event(40)), secret="retired").status_code == 401


def test_invalid_event_names_fields(client: FlaskClient, redis: redis_lib.Redis) -> None:
    event = recording_event(11, details={"msgName": "session_exit"})
    response = post(client, encode(event))
    assert response.status_code == 400
    assert response.json == {
        "error": "invalid_event",
        "fields": {"payload": {"details": {"exitStatus": ["Missing data for required field."]}}},
    }
    assert redis.dbsize() == 0


def test_stale_notify_ms(client: FlaskClient, redis: redis_lib.Redis) -> None:
    old = recording_event(40, notify_ms=int(time.time() * 1000) - 301_000)
    assert post(client, encode(old)).json == {"error": "stale"}
    future = recording_event(40, notify_ms=int(time.time() * 1000) + 301_000)
    assert post(client, encode(future)).status_code == 401
    assert redis.dbsize() == 0


def test_wrong_content_type_and_method(client: FlaskClient) -> None:
    body = encode(recording_event(40))
    response = post(client, body, **{"Content-Type": "text/plain"})
    assert (response.status_code, response.json["error"]) == (415, "unsupported_media_type")
    response = client.get("/agora/ncs")
    assert (response.status_code, response.json["error"]) == (405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_unknown_product_is_accepted_stored_and_queues_nothing(
    client: FlaskClient, redis: redis_lib.Redis
) -> None:
    body = encode(
        {
            "noticeId": "x1",
            "productId": 5,
            "eventType": 1,
            "notifyMs": int(time.time() * 1000),
            "payload": {"z": 1},
        }
    )
    assert post(client, body).json == {"status": "accepted"}
    stored = orjson.loads(redis.lindex(keys.UNROUTED, 0) or b"{}")
    assert stored["event"]["payload"] == {"z": 1}
    assert queued_jobs(redis) == 0
    assert post(client, body).json == {"status": "duplicate"}


def test_channel_events_go_to_the_channel_inbox(
    client: FlaskClient, redis: redis_lib.Redis
) -> None:
    assert post(client, encode(channel_event(103))).status_code == 200
    assert redis.llen(keys.inbox("c:room")) == 1


def test_same_notice_id_from_twenty_threads(client: FlaskClient, redis: redis_lib.Redis) -> None:
    body = encode(recording_event(40, sid="RACE"))
    barrier = threading.Barrier(20)
    answers: list[str] = []

    def send() -> None:
        local = client.application.test_client()
        barrier.wait()
        answers.append(post(local, body).json["status"])

    threads = [threading.Thread(target=send) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == ["accepted"] + ["duplicate"] * 19
    assert redis.llen(keys.inbox("s:RACE")) == 1
    assert queued_jobs(redis) == 1


def test_redis_outage_answers_503_and_marks_nothing() -> None:
    server = RedisServer().start()
    try:
        app = create_app(Settings(redis_url=server.url, ncs_secrets=(Secret(SECRET),)))
        client = app.test_client()
        body = encode(recording_event(40, sid="OUT"))
        server.stop()
        response = post(client, body)
        assert (response.status_code, response.json) == (503, {"error": "unavailable"})
        assert response.headers["Retry-After"] == "5"
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200
        server.start()  # fresh, empty: nothing was marked before the outage either
        direct = redis_lib.Redis(port=server.port)
        assert direct.dbsize() == 0
        response = post(client, body)
        assert (response.status_code, response.json) == (200, {"status": "accepted"})
        assert direct.llen(keys.inbox("s:OUT")) == 1
    finally:
        server.cleanup()


def test_a_failed_write_leaves_no_marker(settings: Settings, redis: redis_lib.Redis) -> None:
    # Redis refusing writes mid-flight (OOM) must not leave a marker behind.
    app = create_app(settings)
    client = app.test_client()
    redis.config_set("maxmemory", "1")
    redis.config_set("maxmemory-policy", "noeviction")
    body = encode(recording_event(40, sid="OOM"))
    try:
        assert post(client, body).status_code == 503
    finally:
        redis.config_set("maxmemory", "0")
    assert redis.exists(keys.notice_marker(orjson.loads(body)["noticeId"])) == 0
    assert post(client, body).json == {"status": "accepted"}


def test_health_and_readiness(client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json == {"status": "ok", "checks": {"redis": "ok", "queue_write": "ok"}}
