"""Agora fidelity scenarios that need their own settings: a 60 s poll (a fatal error must
be queried at once, not at the next poll) and a short rollover period."""

from __future__ import annotations

import pytest
import redis as redis_lib

from tests.support.emulated import run_emulated
from tests.test_agora_fidelity import live_tasks, start, stop

pytestmark = pytest.mark.integration


def test_a_fatal_error_is_queried_at_once(redis_url: str, redis: redis_lib.Redis) -> None:
    # Polls every 60 s: only an immediate query finds the abnormal exit within seconds.
    with run_emulated(redis_url, RECORDING_POLL_S="60") as emulated:
        recording = start(emulated, "fatal", uids=["3"])
        first = emulated.recording_in(recording["id"], "active")
        emulated.session_in(first["sid"], "recording")
        emulated.wait_for("confirmed", lambda: emulated.recording(recording["id"])["confirmed"])
        # The first poll (5 s after start) is done: the next one is 15 s or more away.
        emulated.wait_for(
            "the first poll",
            lambda: emulated.stats()["calls_by_cname"].get("fatal", {}).get("query", 0) >= 1,
        )
        emulated.http.post(
            f"{emulated.emulator}/_emulator/sessions/{first['sid']}/fatal", timeout=5
        )
        restarted = emulated.wait_for(
            "a restart after the query",
            lambda: (
                (r := emulated.recording(recording["id"]))["restarts"] == 1
                and r["state"] == "active"
                and r
            ),
            timeout_s=30,  # well inside the 60 s poll
        )
        assert restarted["sid"] != first["sid"]
        assert restarted["queried_at_once"]["reason"] == "fatal_error"
        assert emulated.session_in(first["sid"], "failed")["service_status"] == 20
        assert live_tasks(emulated, "fatal") == [restarted["sid"]]


def test_a_planned_rollover_keeps_one_live_task(redis_url: str, redis: redis_lib.Redis) -> None:
    # As before a token or resource expires: a new task first, then the old one stopped.
    with run_emulated(redis_url, RECORDING_ROLLOVER_S="2") as emulated:
        recording = start(emulated, "long", uids=["6"])
        first = emulated.recording_in(recording["id"], "active")
        rolled = emulated.wait_for(
            "a rollover",
            lambda: (r := emulated.recording(recording["id"]))["rollovers"] >= 1 and r,
            timeout_s=30,
        )
        assert rolled["sids"][:2] == [first["sid"], rolled["sids"][1]]
        assert rolled["recorder_uid"] != first["recorder_uid"]
        emulated.session_in(first["sid"], "exited")
        assert emulated.stats()["calls"]["stop"] >= 1
        stop(emulated, recording["id"])
        stopped = emulated.recording_in(recording["id"], "stopped")
        emulated.wait_for("no live task", lambda: live_tasks(emulated, "long") == [])
        assert stopped["restarts"] == 0
