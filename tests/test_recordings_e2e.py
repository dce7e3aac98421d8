"""Recording control end to end: the real service against the Agora emulator, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis as redis_lib

from tests.support.emulated import Emulated, run_emulated

pytestmark = pytest.mark.integration


@pytest.fixture
def emulated(redis_url: str, redis: redis_lib.Redis) -> Iterator[Emulated]:
    with run_emulated(redis_url) as running:
        yield running


def test_request_active_stop_stopped(emulated: Emulated) -> None:
    asked = emulated.api("POST", "/api/recordings", json={"cname": "lesson1", "uids": ["11", "22"]})
    assert asked.status_code == 202, asked.text
    recording = asked.json()
    assert recording["state"] == "requested"
    again = emulated.api("POST", "/api/recordings", json={"cname": "lesson1"})
    assert again.json()["id"] == recording["id"]  # asking twice starts one recording

    active = emulated.recording_in(recording["id"], "active")
    sid = active["sid"]
    assert active["sids"] == [sid] and active["resource_id"]
    assert active["recorder_uid"] not in ("11", "22")
    session = emulated.session_in(sid, "recording")
    assert session["recording_id"] == recording["id"]
    assert session["resource_id"] == active["resource_id"]

    assert emulated.api("POST", f"/api/recordings/{recording['id']}/stop").status_code == 202
    stopped = emulated.recording_in(recording["id"], "stopped")
    assert stopped["upload_status"] == "uploaded"
    session = emulated.session_in(sid, "exited")
    assert session["upload_status"] == "uploaded"
    assert set(session["files_by_uid"]) == {"11", "22"}
    calls = emulated.stats()["calls"]
    assert (calls["acquire"], calls["start"], calls["stop"]) == (1, 1, 1)
