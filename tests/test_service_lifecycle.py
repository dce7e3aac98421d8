"""A whole lifecycle posted to the running service, in order and shuffled with resends."""

from __future__ import annotations

import random
import time
from typing import Any

import orjson
import pytest
import redis as redis_lib
import requests

from tests.support.lifecycle import lifecycle, with_resends
from tests.support.ncs import encode, signed_headers
from tests.support.service import Service, run_service

pytestmark = pytest.mark.integration


def post(http: requests.Session, service: Service, events: list[dict[str, Any]]) -> None:
    for event in events:
        body = encode(event)
        answer = http.post(f"{service.base}/agora/ncs", data=body, headers=signed_headers(body))
        assert answer.status_code == 200, answer.text


def settled(http: requests.Session, service: Service, sid: str, count: int) -> dict[str, Any]:
    """The session once its timeline holds all ``count`` distinct events."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        events = http.get(f"{service.base}/api/sessions/{sid}/events", headers=service.auth)
        if events.ok and len(events.json()["events"]) == count:
            session = http.get(f"{service.base}/api/sessions/{sid}", headers=service.auth)
            if session.json()["state"] in ("exited", "failed"):
                return dict(session.json())
        time.sleep(0.05)
    raise TimeoutError(f"session {sid} did not settle")


def test_shuffled_with_resends_ends_like_in_order(redis_url: str, redis: redis_lib.Redis) -> None:
    ordered = lifecycle("sid-ordered", uids=("1", "2", "3"))
    shuffled = with_resends(lifecycle("sid-shuffled", uids=("1", "2", "3")), random.Random(7), 0.6)
    with run_service(redis_url) as service, requests.Session() as http:
        post(http, service, ordered)
        post(http, service, shuffled)
        post(http, service, shuffled[: len(shuffled) // 2])  # NCS resending half again
        in_order = settled(http, service, "sid-ordered", len(ordered))
        any_order = settled(http, service, "sid-shuffled", len(ordered))
    normalise = lambda s: orjson.loads(orjson.dumps(s).replace(b"sid-shuffled", b"sid-ordered"))  # noqa: E731
    assert normalise(any_order) == in_order
    assert in_order["state"] == "exited" and in_order["upload_status"] == "uploaded"
    assert set(in_order["files_by_uid"]) == {"1", "2", "3"}
