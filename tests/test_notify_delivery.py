"""Notifications through the ops API and the delivery loop, against a real receiver.

The state changes are real writes (``recordings.update``, ``sessions.observe_query``) on a
real Redis; the delivery loop runs in this process (the worker process runs the same code
in ``test_notify_e2e``); the receiver is a real HTTP server verifying with the reference
``standardwebhooks`` package. The retry schedule is short through its setting.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_lib
from flask.testing import FlaskClient
from prometheus_client import REGISTRY

from config.settings import Secret, Settings
from tests.conftest import OPS_TOKEN
from tests.support.processes import wait_until
from tests.support.receiver import Receiver
from webhook import create_app
from workers import keys, recordings, sessions
from workers.notify import delivery, endpoints

AUTH = {"Authorization": f"Bearer {OPS_TOKEN}"}
SIGNING_KEY = "test-signing-key-3f9a1c0d7e"


@pytest.fixture
def notify_settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings,
        notify_signing_key=Secret(SIGNING_KEY),
        notify_retry_schedule_s=(1, 1, 1),
        notify_timeout_s=1.0,
    )


@pytest.fixture
def api(notify_settings: Settings, redis: redis_lib.Redis) -> FlaskClient:
    return create_app(notify_settings).test_client()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def add_endpoint(api: FlaskClient, receiver: Receiver, **body: Any) -> dict[str, Any]:
    answer = api.post("/api/endpoints", json={"url": receiver.url, **body}, headers=AUTH)
    assert answer.status_code == 201, answer.get_json()
    endpoint: dict[str, Any] = answer.get_json()
    receiver.secrets.append(endpoint["secret"])
    return endpoint


def activate(redis: redis_lib.Redis, cname: str = "room") -> dict[str, Any]:
    """A recording created and made active: one recording.active message."""
    recording, _ = recordings.create(redis, recordings.new_recording(cname, ["1"], 300, "api"))
    return recordings.update(
        redis, recording["id"], lambda r: r.update(state="active", sid=f"sid-{cname}")
    )


def deliver(redis: redis_lib.Redis, settings: Settings) -> None:
    """What the delivery job does, in this process."""
    delivery.run(redis, settings)


def messages(api: FlaskClient, endpoint_id: str, **query: Any) -> list[dict[str, Any]]:
    answer = api.get(f"/api/endpoints/{endpoint_id}/messages", query_string=query, headers=AUTH)
    assert answer.status_code == 200
    found: list[dict[str, Any]] = answer.get_json()["messages"]
    return found


def test_a_change_is_delivered_signed_and_listed(
    api: FlaskClient, redis: redis_lib.Redis, notify_settings: Settings, receiver: Receiver
) -> None:
    endpoint = add_endpoint(api, receiver, description="app")
    active = activate(redis)
    assert redis.llen(keys.NOTIFY_OUTBOX) == 1  # staged with the change itself
    deliver(redis, notify_settings)
    [got] = receiver.wait_for("one message", lambda r: r)
    assert got.verified_by == [0]
    assert got.webhook_id.startswith("msg_") and got.signature.startswith("v1,")
    assert got.body["type"] == "recording.active"
    assert set(got.body) == {"type", "timestamp", "data"}
    data = got.body["data"]
    assert (data["recording_id"], data["cname"], data["sid"]) == (active["id"], "room", "sid-room")
    assert data["version"] == active["version"] == 2
    wait_until(lambda: messages(api, endpoint["id"], status="delivered"), 10, "delivered")
    [listed] = messages(api, endpoint["id"])
    assert listed["id"] == got.webhook_id
    assert [a["status_code"] for a in listed["attempts"]] == [204]
    shown = api.get(f"/api/endpoints/{endpoint['id']}", headers=AUTH).get_json()
    assert shown["counts"] == {"attempts": 1, "delivered": 1, "failed": 0}
    assert "secret" not in shown


def test_retries_keep_the_id_and_sign_each_attempt(
    api: FlaskClient, redis: redis_lib.Redis, notify_settings: Settings, receiver: Receiver
) -> None:
    receiver.fail_first = 2
    endpoint = add_endpoint(api, receiver)
    activate(redis)
    deliver(redis, notify_settings)
    attempts = receiver.wait_for("three attempts", lambda r: len(r) >= 3 and r)
    assert len({a.webhook_id for a in attempts}) == 1
    assert all(a.verified_by == [0] for a in attempts)
    assert [a.answered for a in attempts] == [500, 500, 204]
    wait_until(lambda: messages(api, endpoint["id"], status="delivered"), 10, "delivered")
    [listed] = messages(api, endpoint["id"])
    assert [a["status_code"] for a in listed["attempts"]] == [500, 500, 204]
    before = REGISTRY.get_sample_value(
        "recbridge_notify_attempts_total", {"endpoint": endpoint["id"], "outcome": "http_5xx"}
    )
    assert before == 2


def test_after_the_schedule_a_message_is_a_dead_letter(
    api: FlaskClient, redis: redis_lib.Redis, notify_settings: Settings, receiver: Receiver
) -> None:
    receiver.fail_first = 100
    endpoint = add_endpoint(api, receiver)
    activate(redis)
    deliver(redis, dataclasses.replace(notify_settings, notify_retry_schedule_s=(1,)))
    wait_until(lambda: messages(api, endpoint["id"], status="failed"), 15, "a dead letter")
    assert len(receiver.snapshot()) == 2  # the first attempt and one retry
    assert redis.zcard(keys.notify_due(endpoint["id"])) == 0


def test_410_disables_at_once_and_enable_resumes(
    api: FlaskClient,
    redis: redis_lib.Redis,
    notify_settings: Settings,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver.status = 410
    endpoint = add_endpoint(api, receiver)
    activate(redis, "one")
    with caplog.at_level(logging.INFO, logger="recbridge.notify"):
        deliver(redis, notify_settings)
        wait_until(
            lambda: api.get(f"/api/endpoints/{endpoint['id']}", headers=AUTH).get_json()[
                "disabled"
            ],
            10,
            "disabled",
        )
    shown = api.get(f"/api/endpoints/{endpoint['id']}", headers=AUTH).get_json()
    assert shown["disabled_reason"] == "gone"
    assert len(receiver.snapshot()) == 1  # no retry after a 410
    assert any(r.msg == "notify.endpoint_disabled" for r in caplog.records)
    activate(redis, "two")  # while disabled: not sent
    deliver(redis, notify_settings)
    assert len(receiver.snapshot()) == 1
    receiver.status = 204
    assert api.post(f"/api/endpoints/{endpoint['id']}/enable", headers=AUTH).status_code == 200
    assert api.get(f"/api/endpoints/{endpoint['id']}", headers=AUTH).get_json()["disabled"] is False
    replayed = api.post(
        f"/api/endpoints/{endpoint['id']}/replay", json={"since_ms": 0}, headers=AUTH
    )
    assert replayed.status_code == 202 and replayed.get_json()["queued"] == 2
    deliver(redis, notify_settings)
    receiver.wait_for("both after enabling", lambda r: sum(x.answered == 204 for x in r) == 2)


def test_an_endpoint_failing_for_the_disable_period_is_disabled(
    api: FlaskClient,
    redis: redis_lib.Redis,
    notify_settings: Settings,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver.fail_first = 100
    endpoint = add_endpoint(api, receiver)
    activate(redis)
    with caplog.at_level(logging.INFO, logger="recbridge.notify"):
        deliver(redis, dataclasses.replace(notify_settings, notify_disable_after_s=1))
        wait_until(
            lambda: api.get(f"/api/endpoints/{endpoint['id']}", headers=AUTH).get_json()[
                "disabled"
            ],
            15,
            "disabled",
        )
    shown = api.get(f"/api/endpoints/{endpoint['id']}", headers=AUTH).get_json()
    assert shown["disabled_reason"] == "failing"
    told = [r for r in caplog.records if r.msg == "notify.endpoint_disabled"]
    assert told and told[0].levelno == logging.ERROR
    assert REGISTRY.get_sample_value(
        "recbridge_notify_endpoints_disabled_total", {"reason": "failing"}
    )


def test_timeouts_redirects_and_a_down_receiver_are_retried(
    api: FlaskClient, redis: redis_lib.Redis, notify_settings: Settings, receiver: Receiver
) -> None:
    receiver.hold_s, receiver.hold_count = 3.0, 1  # longer than NOTIFY_TIMEOUT_S (1 s)
    endpoint = add_endpoint(api, receiver)
    activate(redis)
    deliver(redis, notify_settings)
    wait_until(lambda: messages(api, endpoint["id"], status="delivered"), 15, "delivered")
    [listed] = messages(api, endpoint["id"])
    assert [a["outcome"] for a in listed["attempts"]] == ["timeout", "delivered"]
    assert listed["attempts"][0]["latency_ms"] < 2500  # cut at the timeout, not the answer

    receiver.status, receiver.location = 302, "http://127.0.0.1:9/elsewhere"
    activate(redis, "moved")
    deliver(redis, dataclasses.replace(notify_settings, notify_retry_schedule_s=()))
    wait_until(lambda: messages(api, endpoint["id"], status="failed"), 10, "refused")
    assert messages(api, endpoint["id"], status="failed")[0]["attempts"][0]["outcome"] == "redirect"

    receiver.status, receiver.location = 204, None
    port = receiver.server.server_address[1]  # type: ignore[union-attr]
    receiver.stop()  # down
    activate(redis, "down")
    runner = threading.Thread(
        target=delivery.run,
        args=(redis, dataclasses.replace(notify_settings, notify_retry_schedule_s=(2,))),
    )
    runner.start()

    def down_attempts() -> list[dict[str, Any]]:
        found = [
            m for m in messages(api, endpoint["id"]) if m["payload"]["data"]["cname"] == "down"
        ]
        return found[0]["attempts"] if found else []

    wait_until(down_attempts, 10, "an attempt while the receiver is down")
    revived = Receiver(secrets=receiver.secrets).start(port)
    try:
        got = revived.wait_for("delivery after the receiver came back", lambda r: r)
        assert got[0].body["data"]["cname"] == "down" and got[0].verified_by == [0]
    finally:
        runner.join()
        revived.stop()
    assert next(a["outcome"] for a in down_attempts()) == "connection_error"


def test_rotation_keeps_old_receivers_working_for_the_overlap(
    api: FlaskClient, redis: redis_lib.Redis, notify_settings: Settings, receiver: Receiver
) -> None:
    endpoint = add_endpoint(api, receiver)
    rotated = api.post(f"/api/endpoints/{endpoint['id']}/rotate-secret", headers=AUTH)
    assert rotated.status_code == 200
    new_secret = rotated.get_json()["secret"]
    assert new_secret != endpoint["secret"]
    receiver.secrets.append(new_secret)  # index 0: old secret, 1: new one
    activate(redis, "overlap")
    deliver(redis, notify_settings)
    [during] = receiver.wait_for("a message", lambda r: r)
    assert during.verified_by == [0, 1]  # old and new receivers both accept it
    assert len(during.signature.split(" ")) == 2

    # Once the overlap (24 h) is over, only the new secret signs.
    def overlap_over(e: dict[str, Any]) -> None:
        for version in e["secret_versions"]:
            if version["expires_ms"] is not None:
                version["expires_ms"] = 1

    endpoints.update(redis, endpoint["id"], overlap_over)
    activate(redis, "after")
    deliver(redis, notify_settings)
    after = receiver.wait_for("a second message", lambda r: len(r) == 2 and r)[1]
    assert after.verified_by == [1]


def test_replay_sends_again_with_the_same_ids(
    api: FlaskClient, redis: redis_lib.Redis, notify_settings: Settings, receiver: Receiver
) -> None:
    endpoint = add_endpoint(api, receiver)
    activate(redis, "a")
    activate(redis, "b")
    deliver(redis, notify_settings)
    first = receiver.wait_for("two", lambda r: len(r) == 2 and r)
    answer = api.post(f"/api/endpoints/{endpoint['id']}/replay", json={"since_ms": 0}, headers=AUTH)
    assert answer.status_code == 202
    deliver(redis, notify_settings)
    again = receiver.wait_for("four", lambda r: len(r) == 4 and r)[2:]
    assert {r.webhook_id for r in again} == {r.webhook_id for r in first}
    assert all(r.verified_by == [0] for r in again)
    bad = api.post(f"/api/endpoints/{endpoint['id']}/replay", json={"since_ms": "x"}, headers=AUTH)
    assert bad.status_code == 400 and "since_ms" in bad.get_json()["fields"]


def test_event_type_filters_and_per_endpoint_concurrency(
    api: FlaskClient, redis: redis_lib.Redis, notify_settings: Settings, receiver: Receiver
) -> None:
    receiver.hold_s, receiver.hold_count = 0.3, 100
    add_endpoint(api, receiver)
    other = Receiver().start()
    try:
        add_endpoint(api, other, event_types=["recording.stopped"])
        for n in range(8):
            activate(redis, f"c{n}")
        stopped = activate(redis, "last")
        recordings.update(redis, stopped["id"], lambda r: r.update(state="stopped"))
        deliver(redis, dataclasses.replace(notify_settings, notify_endpoint_concurrency=2))
        receiver.wait_for("ten", lambda r: len(r) == 10, timeout_s=20)
        got = other.wait_for("the stopped one", lambda r: r)
        assert [r.body["type"] for r in got] == ["recording.stopped"]
        assert receiver.most_active <= 2
        assert receiver.most_active == 2  # and the limit was used
    finally:
        other.stop()


def test_session_changes_are_staged_in_the_same_write(
    api: FlaskClient, redis: redis_lib.Redis, notify_settings: Settings, receiver: Receiver
) -> None:
    add_endpoint(api, receiver)
    files = [{"fileName": "sid_room__uid_s_7__uid_e_audio.m3u8", "uid": "7"}]
    sessions.observe_query(
        redis, "sid-q", cname="room", recorder_uid="9", status=5, files=[], retention_s=600
    )
    sessions.observe_query(
        redis,
        "sid-q",
        cname="room",
        recorder_uid="9",
        status=8,
        files=files,
        retention_s=600,
        upload_status="backuped",
    )
    deliver(redis, notify_settings)
    got = receiver.wait_for("two", lambda r: len(r) == 2 and r)
    assert sorted(r.body["type"] for r in got) == ["session.exited", "session.files_backed_up"]
    backed = next(r for r in got if r.body["type"] == "session.files_backed_up")
    assert backed.body["data"]["files_by_uid"] == {"7": [files[0]["fileName"]]}
    assert {r.body["data"]["version"] for r in got} == {2}  # one write, one version


def test_api_refusals_and_the_secret_is_shown_once(
    api: FlaskClient,
    redis: redis_lib.Redis,
    notify_settings: Settings,
    receiver: Receiver,
    settings: Settings,
) -> None:
    for body, field in [
        ({"url": "ftp://127.0.0.1/x"}, "url"),
        ({}, "url"),
        ({"url": receiver.url, "event_types": ["nope"]}, "event_types"),
        ({"url": receiver.url, "event_types": []}, "event_types"),
        ({"url": receiver.url, "description": 5}, "description"),
    ]:
        answer = api.post("/api/endpoints", json=body, headers=AUTH)
        assert answer.status_code == 400 and field in answer.get_json()["fields"], body
    assert api.post("/api/endpoints", data="[", headers=AUTH).status_code == 400
    assert api.post("/api/endpoints", json={"url": receiver.url}).status_code == 401
    assert api.get("/api/endpoints/ep_nope", headers=AUTH).status_code == 404
    assert api.delete("/api/endpoints/ep_nope", headers=AUTH).status_code == 404

    no_key = create_app(settings).test_client()  # NOTIFY_SIGNING_KEY unset
    refused = no_key.post("/api/endpoints", json={"url": receiver.url}, headers=AUTH)
    assert refused.status_code == 503 and refused.get_json()["error"] == "notifications_disabled"

    walled = create_app(
        dataclasses.replace(notify_settings, notify_allowed_hosts=("10.0.0.0/8",))
    ).test_client()
    refused = walled.post("/api/endpoints", json={"url": receiver.url}, headers=AUTH)
    assert (
        refused.status_code == 400
        and "NOTIFY_ALLOWED_HOSTS" in refused.get_json()["fields"]["url"][0]
    )

    endpoint = add_endpoint(api, receiver)
    secret = endpoint["secret"]
    rotated = api.post(f"/api/endpoints/{endpoint['id']}/rotate-secret", headers=AUTH).get_json()
    activate(redis)
    deliver(redis, notify_settings)
    receiver.wait_for("one", lambda r: r)
    wait_until(lambda: messages(api, endpoint["id"], status="delivered"), 10, "delivered")
    # Neither secret, nor the key it signs with, is in any answer or anywhere in Redis.
    needles = [s.encode() for s in (secret, rotated["secret"])]
    needles += [s.removeprefix("whsec_").encode() for s in (secret, rotated["secret"])]
    answers = b"".join(
        api.get(path, headers=AUTH).data
        for path in (
            "/api/endpoints",
            f"/api/endpoints/{endpoint['id']}",
            f"/api/endpoints/{endpoint['id']}/messages",
        )
    )
    assert not any(n in answers for n in needles)
    dump = b""
    for key in redis.scan_iter(count=1000):
        kind = redis.type(key)
        if kind == b"string":
            dump += redis.get(key) or b""
        elif kind == b"hash":
            dump += b"".join(k + v for k, v in redis.hgetall(key).items())
        elif kind == b"list":
            dump += b"".join(redis.lrange(key, 0, -1))
        elif kind == b"zset":
            dump += b"".join(redis.zrange(key, 0, -1))
        elif kind == b"set":
            dump += b"".join(redis.smembers(key))
    assert dump and not any(n in dump for n in needles)
    assert SIGNING_KEY.encode() not in dump
    assert api.delete(f"/api/endpoints/{endpoint['id']}", headers=AUTH).status_code == 204
    assert api.get("/api/endpoints", headers=AUTH).get_json()["count"] == 0


def test_the_console_lists_endpoints_and_enables_one(
    api: FlaskClient, redis: redis_lib.Redis, receiver: Receiver
) -> None:
    from tests.test_console import csrf_of, log_in  # noqa: PLC0415

    endpoint = add_endpoint(api, receiver, event_types=["recording.stopped"])
    endpoints.set_disabled(redis, endpoint["id"], "gone")
    log_in(api)
    page = api.get("/console/endpoints").get_data(as_text=True)
    assert endpoint["id"] in page and "disabled (gone)" in page and "recording.stopped" in page
    assert endpoint["secret"] not in page
    path = f"/console/endpoints/{endpoint['id']}/enable"
    assert api.post(path).status_code == 403  # no CSRF token
    token = csrf_of(api, "/console/endpoints")
    assert api.post(path, data={"csrf_token": token}).status_code == 303
    assert endpoints.load(redis, endpoint["id"])["disabled"] is False  # type: ignore[index]
