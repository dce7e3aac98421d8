"""Every Redis key has an owner and an expiry or a bound (``workers.keys.BUDGET``).

A whole emulated lifecycle, a failed recording and junk callbacks (unknown event types,
sids seen only in unknown events, RTC channel events, other products) run through the real
service; once it is idle, every key left in Redis must either expire or belong to a family
the budget names as bounded.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis as redis_lib
import requests

from tests.support.emulated import Emulated, run_emulated
from tests.support.ncs import channel_event, encode, recording_event, signed_headers
from tests.support.processes import wait_until
from workers import keys

pytestmark = pytest.mark.integration


@pytest.fixture
def emulated(redis_url: str, redis: redis_lib.Redis) -> Iterator[Emulated]:
    with run_emulated(redis_url, RECORDING_MAX_RESTARTS="0") as running:
        yield running


def post(emulated: Emulated, event: dict) -> None:  # type: ignore[type-arg]
    body = encode(event)
    answer = requests.post(
        f"{emulated.service.base}/agora/ncs", data=body, headers=signed_headers(body), timeout=10
    )
    assert answer.status_code == 200, answer.text


def junk(emulated: Emulated, lifecycle_sid: str) -> None:
    unknown = {"msgName": "from_the_future", "x": "y" * 200}
    for seq in range(3):  # a sid only ever seen in unknown event types
        post(emulated, recording_event(999, sid="only-unknown-sid", sequence=seq, details=unknown))
    post(emulated, recording_event(998, sid=lifecycle_sid, sequence=500, details=unknown))
    post(emulated, recording_event(40, sid="never-ends", cname="budget-3"))  # stays live
    for event_type, extra in [
        (101, {}),
        (103, {"uid": 5, "clientSeq": 1}),
        (104, {"uid": 5, "clientSeq": 2}),
        (102, {}),
    ]:
        post(emulated, channel_event(event_type, channelName="junk-channel", **extra))
    other_product = channel_event(101, channelName="x")
    other_product["productId"] = 42
    post(emulated, other_product)


def idle(connection: redis_lib.Redis) -> bool:
    inboxes = list(connection.scan_iter(match=keys.inbox("*"), count=1000))
    return not inboxes and connection.llen(keys.READY) == 0


def test_no_key_without_an_expiry_or_a_bound(emulated: Emulated, redis: redis_lib.Redis) -> None:
    asked = emulated.api("POST", "/api/recordings", json={"cname": "budget", "uids": ["11"]})
    recording = asked.json()
    sid = emulated.recording_in(recording["id"], "active")["sid"]
    emulated.session_in(sid, "recording")
    emulated.api("POST", f"/api/recordings/{recording['id']}/stop")
    emulated.recording_in(recording["id"], "stopped")
    emulated.session_in(sid, "exited")

    emulated.faults(abnormal_exit=True)  # with no restarts allowed, the recording fails
    failing = emulated.api("POST", "/api/recordings", json={"cname": "budget-2"}).json()
    emulated.recording_in(failing["id"], "failed")

    junk(emulated, sid)
    wait_until(lambda: emulated.stats()["callbacks_pending"] == 0, 30, "emulator callbacks")
    wait_until(lambda: idle(redis), 30, "inboxes drained")

    unbounded = []
    families = set()
    for raw in redis.scan_iter(count=1000):
        name = keys.text(raw)
        family = keys.family_of(name)
        if family is None:
            unbounded.append(f"{name}: in no family of workers.keys.BUDGET")
        elif redis.ttl(raw) == -1 and family.bound == keys.EXPIRES:
            unbounded.append(f"{name}: no TTL")
        else:
            families.add(family.pattern)
    assert not unbounded, "\n".join(sorted(unbounded))
    # The lifecycle really wrote what the budget speaks of.
    for pattern in (
        keys.session("*"),
        keys.timeline("*"),
        keys.recording("*"),
        keys.channel("*"),
        keys.UNROUTED,
    ):
        assert pattern in families, pattern
