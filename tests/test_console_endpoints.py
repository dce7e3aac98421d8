"""The console's notification endpoint pages, through the Flask app."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
import redis as redis_lib

from config.settings import Secret, Settings
from tests.support.receiver import Receiver
from tests.test_console import AUTH, csrf_of, log_in
from tests.test_notify_delivery import SIGNING_KEY, activate, add_endpoint, deliver
from webhook import create_app
from workers.notify import endpoints


@pytest.fixture
def notify_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, notify_signing_key=Secret(SIGNING_KEY))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def test_an_endpoint_page_shows_its_messages_and_replays_them(
    notify_settings: Settings, redis: redis_lib.Redis, receiver: Receiver
) -> None:
    client = create_app(notify_settings).test_client()
    endpoint = add_endpoint(client, receiver, description="the app")
    activate(redis, "zeta")
    deliver(redis, notify_settings)
    log_in(client)
    listed = client.get("/console/endpoints").get_data(as_text=True)
    assert f'href="/console/endpoints/{endpoint["id"]}"' in listed
    page = client.get(f"/console/endpoints/{endpoint['id']}").get_data(as_text=True)
    api = client.get(f"/api/endpoints/{endpoint['id']}/messages", headers=AUTH).get_json()
    assert [m["type"] for m in api["messages"]] == ["recording.active"]
    assert "recording.active" in page and "delivered" in page and "zeta" in page
    assert endpoint["secret"] not in page and endpoint["secret"] not in listed
    path = f"/console/endpoints/{endpoint['id']}/replay"
    assert client.post(path, data={"since": "the last hour"}).status_code == 403
    token = csrf_of(client, f"/console/endpoints/{endpoint['id']}")
    assert client.post(path, data={"since": "forever", "csrf_token": token}).status_code == 400
    before = len(receiver.snapshot())
    answer = client.post(path, data={"since": "the last hour", "csrf_token": token})
    assert answer.status_code == 303
    deliver(redis, notify_settings)
    again = receiver.snapshot()[before:]
    assert [r.webhook_id for r in again] == [receiver.snapshot()[0].webhook_id]  # same id
    assert client.get("/console/endpoints/nope").status_code == 404


def test_health_counts_notifications_waiting_and_disabled_endpoints(
    notify_settings: Settings, redis: redis_lib.Redis, receiver: Receiver
) -> None:
    client = create_app(notify_settings).test_client()
    endpoint = add_endpoint(client, receiver)
    log_in(client)
    html = client.get("/console/health").get_data(as_text=True)
    assert "1 endpoint(s)" in html
    endpoints.set_disabled(redis, endpoint["id"], "gone")
    html = client.get("/console/health").get_data(as_text=True)
    assert "1 endpoint(s), 1 disabled" in html
