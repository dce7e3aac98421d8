"""Agora as documented, not as recbridge expects: each scenario runs the real service against
the emulator over HTTP and ends with at most one live task per recording, the truthful state
and the documented reason (agora-reference §4.9, §2.3, §3.1)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_lib

from emulator.faults import Faults
from tests.support.emulated import Emulated, run_emulated

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def shared(redis_url: str) -> Iterator[Emulated]:
    """One service and emulator for the module (starting them is most of a test's time):
    each test uses its own channels and reads the emulator's calls per channel."""
    client = redis_lib.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    with run_emulated(redis_url, AUTO_RECORD_CHANNELS="class-*", AUTO_RECORD_GRACE_S="1") as run:
        yield run


@pytest.fixture
def emulated(shared: Emulated) -> Iterator[Emulated]:
    yield shared
    shared.faults(**Faults().as_dict())  # no fault outlives its test


def calls(emulated: Emulated, cname: str) -> dict[str, int]:
    """Agora calls made for ``cname`` by endpoint (0 when none)."""
    made = emulated.stats()["calls_by_cname"].get(cname, {})
    return {e: made.get(e, 0) for e in ("acquire", "start", "query", "update", "stop")}


def start(emulated: Emulated, cname: str, **body: object) -> dict[str, Any]:
    asked = emulated.api("POST", "/api/recordings", json={"cname": cname, **body})
    assert asked.status_code == 202, asked.text
    return dict(asked.json())


def live_tasks(emulated: Emulated, cname: str) -> list[str]:
    """The sids the emulator is still running (and billing) for ``cname``."""
    sessions = emulated.stats()["sessions"]
    return [
        sid
        for sid, s in sessions.items()
        if s["cname"] == cname and s["state"] in ("recording", "failover")
    ]


def stop(emulated: Emulated, recording_id: str) -> None:
    assert emulated.api("POST", f"/api/recordings/{recording_id}/stop").status_code == 202


def test_206_then_201_without_sid_adopts_the_running_task(emulated: Emulated) -> None:
    # The first start went through but its answer timed out (206/65); the retry is told
    # 201/7 "already started", without a sid. The task is running: adopt it, never start
    # another one.
    emulated.faults(start_206_started=1)
    recording = start(emulated, "adopt", uids=["11"])
    active = emulated.recording_in(recording["id"], "active")
    sid = emulated.wait_for(
        "the sid learnt from the task's callbacks",
        lambda: emulated.recording(recording["id"])["sid"],
    )
    assert live_tasks(emulated, "adopt") == [sid]
    session = emulated.session_in(sid, "recording")
    assert session["recording_id"] == recording["id"]
    made = calls(emulated, "adopt")
    assert (made["acquire"], made["start"]) == (1, 2)
    assert active["restarts"] == 0
    stop(emulated, recording["id"])
    stopped = emulated.recording_in(recording["id"], "stopped")
    assert stopped["sids"] == [sid]
    assert live_tasks(emulated, "adopt") == []
    assert calls(emulated, "adopt")["acquire"] == 1


def test_a_90_s_failover_is_not_taken_for_death(emulated: Emulated) -> None:
    # 4.5 s of 404 at the test's time scale; the new server repeats the stream events.
    emulated.faults(failover=True, failover_s=90, failover_copies=True)
    recording = start(emulated, "ha", uids=["5"])
    first = emulated.recording_in(recording["id"], "active")
    emulated.session_in(first["sid"], "failover")
    session = emulated.wait_for(
        "the task back on its new server",
        lambda: (
            (s := emulated.session_in(first["sid"], "failover", "recording"))["state"]
            == "recording"
            and len(s["recorder_uids"]) == 2
            and s
        ),
        timeout_s=60,
    )
    assert session["recorder_uid"] != first["recorder_uid"]
    emulated.wait_for(
        "a poll answered again",
        lambda: (
            emulated.recording(recording["id"])["failover_404s"] >= 1
            and emulated.recording(recording["id"])["not_found"] == 0
        ),
        timeout_s=30,
    )
    now = emulated.recording(recording["id"])
    assert (now["state"], now["restarts"], now["sids"]) == ("active", 0, [first["sid"]])
    assert live_tasks(emulated, "ha") == [first["sid"]]
    assert calls(emulated, "ha")["acquire"] == 1
    # The copies are told apart by the recorder uid: both kept, the new server's last.
    emulated.wait_for("callbacks", lambda: emulated.stats()["callbacks_pending"] == 0)
    events = emulated.api("GET", f"/api/sessions/{first['sid']}/events").json()["events"]
    stream_uids = [e["payload"]["uid"] for e in events if e["eventType"] == 43]
    assert stream_uids.count(first["recorder_uid"]) == 1
    assert stream_uids.count(session["recorder_uid"]) == 1


def test_a_stop_during_a_failover_waits_for_the_task(emulated: Emulated) -> None:
    emulated.faults(failover=True, failover_s=90)
    recording = start(emulated, "ha-stop", uids=["5"])
    first = emulated.recording_in(recording["id"], "active")
    emulated.session_in(first["sid"], "failover")
    stop(emulated, recording["id"])
    stopped = emulated.recording_in(recording["id"], "stopped", timeout_s=60)
    # Stopped only once Agora confirmed it: the task really is gone, it was not a 404.
    assert live_tasks(emulated, "ha-stop") == []
    assert stopped["ended_reason"] in (None, "stopped")
    assert emulated.session_in(first["sid"], "exited")["upload_status"] == "uploaded"


def test_a_lost_session_exit_after_no_users_does_not_restart(emulated: Emulated) -> None:
    # 41 (leaveCode 4: nobody left in the channel) and 31 arrive; 11 is lost. The later
    # 404 is the task's end, not a failover: no new billed task in an empty channel.
    emulated.faults(lose_exit=True)
    recording = start(emulated, "empty-room", uids=["8"])
    sid = emulated.recording_in(recording["id"], "active")["sid"]
    emulated.session_in(sid, "recording")
    emulated.http.post(f"{emulated.emulator}/_emulator/sessions/{sid}/idle", timeout=5)
    stopped = emulated.recording_in(recording["id"], "stopped", timeout_s=30)
    assert "no_users" in stopped["ended_reason"]
    session = emulated.session_in(sid, "exited")
    assert session["upload_status"] == "uploaded"
    assert session["end_reason"] == "no_users"
    recording_now = emulated.recording(recording["id"])
    assert (recording_now["restarts"], recording_now["sids"]) == (0, [sid])
    assert calls(emulated, "empty-room")["acquire"] == 1
    assert live_tasks(emulated, "empty-room") == []


def test_uploaded_after_session_exit_reaches_the_recording(emulated: Emulated) -> None:
    emulated.faults(upload_after_exit=True)
    recording = start(emulated, "late-upload", uids=["4"])
    sid = emulated.recording_in(recording["id"], "active")["sid"]
    emulated.session_in(sid, "recording")
    emulated.http.post(f"{emulated.emulator}/_emulator/sessions/{sid}/idle", timeout=5)
    emulated.recording_in(recording["id"], "stopped")
    done = emulated.wait_for(
        "the recording's upload state following its session",
        lambda: (r := emulated.recording(recording["id"]))["upload_status"] == "uploaded" and r,
    )
    assert done["uploads"] == {sid: "uploaded"}
    assert emulated.session_in(sid, "exited")["upload_status"] == "uploaded"


def test_432_on_start_is_one_refused_request_not_an_expired_resource(emulated: Emulated) -> None:
    emulated.faults(start_432=1)
    recording = start(emulated, "mismatch")
    failed = emulated.recording_in(recording["id"], "failed")
    assert "432" in failed["error"]
    made = calls(emulated, "mismatch")
    assert (made["acquire"], made["start"]) == (1, 1)
    assert live_tasks(emulated, "mismatch") == []


def test_1003_on_stop_is_reported_not_retried_into_a_dead_letter(emulated: Emulated) -> None:
    letters = emulated.api("GET", "/api/dead-letters").json()["count"]
    recording = start(emulated, "mismatch-stop")
    sid = emulated.recording_in(recording["id"], "active")["sid"]
    emulated.faults(stop_1003=1)
    stop(emulated, recording["id"])
    failed = emulated.recording_in(recording["id"], "failed")
    assert "1003" in failed["error"]
    assert calls(emulated, "mismatch-stop")["stop"] == 1
    # The truth: the task still runs, and the recording says so rather than "stopped".
    assert live_tasks(emulated, "mismatch-stop") == [sid]
    assert emulated.api("GET", "/api/dead-letters").json()["count"] == letters


note_for = {"stop_501": "exiting", "stop_50": "stopped_upload_pending"}


@pytest.mark.parametrize(("fault", "note"), [("stop_501", "exiting"), ("stop_50", "upload")])
def test_stop_answered_501_or_50_is_stopped(emulated: Emulated, fault: str, note: str) -> None:
    recording = start(emulated, f"stop-{note}")
    sid = emulated.recording_in(recording["id"], "active")["sid"]
    emulated.session_in(sid, "recording")
    emulated.faults(**{fault: 1})
    stop(emulated, recording["id"])
    stopped = emulated.recording_in(recording["id"], "stopped", "failed")
    assert stopped["state"] == "stopped", stopped["error"]
    # Whichever Agora told first: the stop's answer, or the session's own exit (11).
    assert stopped["ended_reason"] in (note_for[fault], "exited")
    assert live_tasks(emulated, f"stop-{note}") == []
    done = emulated.wait_for(
        "uploaded",
        lambda: (r := emulated.recording(recording["id"]))["upload_status"] == "uploaded" and r,
    )
    assert done["restarts"] == 0


def test_file_list_mode_string_is_read(emulated: Emulated) -> None:
    emulated.faults(drops=1.0, file_list_mode="string")  # only query answers tell us
    recording = start(emulated, "strings", uids=["7"])
    sid = emulated.recording_in(recording["id"], "active")["sid"]
    session = emulated.wait_for(
        "files from query",
        lambda: (s := emulated.session_in(sid, "recording"))["files"] and s,
    )
    assert [f["uid"] for f in session["files"]] == ["7"]
    assert session["files"][0]["fileName"].endswith("__uid_s_7__uid_e_audio.m3u8")


@pytest.mark.parametrize("product", [1, 3])
def test_console_check_callbacks_get_200(emulated: Emulated, product: int) -> None:
    answer = emulated.http.post(
        f"{emulated.emulator}/_emulator/check", json={"productId": product}, timeout=30
    ).json()["answers"]
    assert answer and set(answer.values()) == {200}, answer


def test_patch_uids_updates_the_live_task(emulated: Emulated) -> None:
    recording = start(emulated, "live-uids", uids=["1", "2"])
    sid = emulated.recording_in(recording["id"], "active")["sid"]
    changed = emulated.api("PATCH", f"/api/recordings/{recording['id']}", json={"uids": ["3"]})
    assert changed.status_code == 202, changed.text
    emulated.wait_for(
        "the task's new uids", lambda: emulated.stats()["sessions"][sid]["uids"] == ["3"]
    )
    assert emulated.recording(recording["id"])["applied_uids"] == ["3"]
    bad = emulated.api("PATCH", f"/api/recordings/{recording['id']}", json={"uids": ["x"]})
    assert bad.status_code == 400 and "uids" in bad.json()["fields"]
    assert emulated.api("PATCH", "/api/recordings/nope", json={"uids": ["3"]}).status_code == 404
    stop(emulated, recording["id"])
    emulated.recording_in(recording["id"], "stopped")
    late = emulated.api("PATCH", f"/api/recordings/{recording['id']}", json={"uids": ["3"]})
    assert late.status_code == 409
    assert calls(emulated, "live-uids")["update"] == 1


def test_auto_record_ends_with_the_last_person(emulated: Emulated) -> None:
    # The shared service records "class-*" channels, with a 1 s grace period.
    channel = f"{emulated.emulator}/_emulator/channels/class-1"
    emulated.http.post(f"{channel}/join", json={"uid": 501}, timeout=5)
    active = emulated.wait_for(
        "a recording",
        lambda: (
            (found := emulated.api("GET", "/api/recordings?cname=class-1").json())["count"]
            and found["recordings"][0]["state"] == "active"
            and found["recordings"][0]
        ),
    )
    emulated.session_in(active["sid"], "recording")
    # The recorder's own join (107, no clientType) does not keep the channel "occupied".
    emulated.http.post(f"{channel}/leave", json={"uid": 501}, timeout=5)
    stopped = emulated.recording_in(active["id"], "stopped", timeout_s=30)
    assert stopped["stop_reason"] == "last person left"
    assert live_tasks(emulated, "class-1") == []
    made = calls(emulated, "class-1")
    assert (made["start"], made["stop"]) == (1, 1)
