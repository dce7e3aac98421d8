"""Recording control on Agora's bad days, end to end: real Redis, real worker processes,
the emulator over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_lib

from tests.support.emulated import Emulated, run_emulated

pytestmark = pytest.mark.integration

POLL_S = 1


@pytest.fixture
def emulated(redis_url: str, redis: redis_lib.Redis) -> Iterator[Emulated]:
    with run_emulated(redis_url, RECORDING_POLL_S=str(POLL_S)) as running:
        yield running


def calls(emulated: Emulated) -> tuple[float, list[dict[str, Any]]]:
    answer = emulated.http.get(f"{emulated.emulator}/_emulator/calls", timeout=5).json()
    return float(answer["now"]), list(answer["calls"])


def queries(emulated: Emulated, sid: str, since: float, until: float) -> list[dict[str, Any]]:
    _, logged = calls(emulated)
    return [
        c
        for c in logged
        if c["endpoint"] == "query" and c["sid"] == sid and since <= c["t"] < until
    ]


def emulator_time_after(emulated: Emulated, moment: float) -> None:
    emulated.wait_for(
        "the emulator's clock", lambda: calls(emulated)[0] >= moment, timeout_s=moment + 60
    )


def test_poll_rate_returns_to_one_per_interval_after_a_query_outage(emulated: Emulated) -> None:
    asked = emulated.api("POST", "/api/recordings", json={"cname": "storm", "uids": ["4"]})
    recording = asked.json()
    sid = emulated.recording_in(recording["id"], "active")["sid"]
    emulated.wait_for("start confirmed", lambda: emulated.recording(recording["id"])["confirmed"])
    answer = emulated.http.post(
        f"{emulated.emulator}/_emulator/outage", json={"endpoint": "query", "seconds": 20}
    )
    assert answer.ok, answer.text
    began, _ = calls(emulated)
    ended = began + 20
    emulator_time_after(emulated, ended + 13)
    failed = [c for c in queries(emulated, sid, began, ended) if c["status"] == 503]
    assert failed  # the outage was seen
    # Three intervals to settle, then ten: one poll per interval, not a storm.
    after = queries(emulated, sid, ended + 3, ended + 13)
    assert 10 / (POLL_S + 1) <= len(after) <= 10 / POLL_S + 1, after
    assert all(c["status"] == 200 for c in after)

    emulated.api("POST", f"/api/recordings/{recording['id']}/stop")
    emulated.recording_in(recording["id"], "stopped")
    stopped_at, _ = calls(emulated)
    emulator_time_after(emulated, stopped_at + 5 * POLL_S)
    assert queries(emulated, sid, stopped_at, stopped_at + 5 * POLL_S) == []
