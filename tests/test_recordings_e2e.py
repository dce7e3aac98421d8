"""Recording control end to end: the real service against the Agora emulator, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis as redis_lib
from rq import Queue

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


def start(emulated: Emulated, cname: str, **body: object) -> dict:  # type: ignore[type-arg]
    asked = emulated.api("POST", "/api/recordings", json={"cname": cname, **body})
    assert asked.status_code == 202, asked.text
    return dict(asked.json())


def timeline(emulated: Emulated, sid: str) -> list[dict]:  # type: ignore[type-arg]
    return list(emulated.api("GET", f"/api/sessions/{sid}/events").json()["events"])


def test_duplicates_redundant_copies_reordering_and_delays(emulated: Emulated) -> None:
    emulated.faults(duplicates=0.5, redundant=0.5, reorder_ms=300, delay_ms=50)
    recording = start(emulated, "faulty", uids=["1", "2", "3"])
    sid = emulated.recording_in(recording["id"], "active")["sid"]
    emulated.session_in(sid, "recording")
    emulated.api("POST", f"/api/recordings/{recording['id']}/stop")
    emulated.recording_in(recording["id"], "stopped")
    # Every event of the lifecycle arrives at least once: each is listed exactly once.
    emulated.wait_for("all callbacks", lambda: emulated.stats()["callbacks_pending"] == 0)
    session = emulated.session_in(sid, "exited")
    assert session["upload_status"] == "uploaded"
    assert session["sequence_gaps"] == []
    events = timeline(emulated, sid)
    count = session["last_sequence"] + 1
    assert count >= 15
    assert [e["sequence"] for e in events] == list(range(count))
    assert len({e["noticeId"] for e in events}) == count
    assert emulated.stats()["callbacks"]["sent"] > count  # copies were really sent


def test_dropped_callbacks_are_made_up_by_rest_answers(emulated: Emulated) -> None:
    emulated.faults(drops=1.0)  # NCS loses everything
    recording = start(emulated, "lossy", uids=["7"])
    sid = emulated.recording_in(recording["id"], "active")["sid"]
    session = emulated.session_in(sid, "recording")  # built from query polls alone
    assert session["service_status"] == 5
    emulated.wait_for("start confirmed", lambda: emulated.recording(recording["id"])["confirmed"])
    emulated.api("POST", f"/api/recordings/{recording['id']}/stop")
    assert emulated.recording_in(recording["id"], "stopped")["upload_status"] == "uploaded"
    session = emulated.session_in(sid, "exited")  # from the stop answer
    assert [f["uid"] for f in session["files"]] == ["7"]


def test_failover_within_the_window_keeps_the_recording(emulated: Emulated) -> None:
    emulated.faults(failover=True, failover_s=60)  # 3 s of 404 at the test's time scale
    recording = start(emulated, "failover", uids=["5"])
    active = emulated.recording_in(recording["id"], "active")
    session = emulated.session_in(active["sid"], "failover", "recording")
    session = emulated.wait_for(
        "recovery",
        lambda: (
            (s := emulated.session_in(active["sid"], "recording"))
            and len(s["recorder_uids"]) == 2
            and s
        ),
    )
    assert session["recorder_uid"] != active["recorder_uid"]
    recording = emulated.wait_for(
        "a poll after the failover",
        lambda: (
            (r := emulated.recording(recording["id"]))["failover_404s"] >= 1
            and r["not_found"] == 0
            and r
        ),
    )
    assert (recording["state"], recording["restarts"]) == ("active", 0)


def test_a_404_outlasting_the_failover_window_restarts(emulated: Emulated) -> None:
    emulated.faults(failover=True, failover_s=400)
    recording = start(emulated, "lost")
    first = emulated.recording_in(recording["id"], "active")
    restarted = emulated.wait_for(
        "restart",
        lambda: (
            (r := emulated.recording(recording["id"]))["restarts"] == 1
            and r["state"] == "active"
            and r
        ),
    )
    assert restarted["sid"] != first["sid"] and restarted["sids"] == [
        first["sid"],
        restarted["sid"],
    ]
    assert restarted["recorder_uid"] != first["recorder_uid"]
    # Still 404 after Agora's 60 + 90 s failover window: gone, never observed ending.
    assert restarted["restart_reasons"] == ["session ended_unobserved"]
    session = emulated.session_in(first["sid"], "exited")
    assert session["end_reason"] == "ended_unobserved"


def test_abnormal_exit_restarts_with_a_new_uid(emulated: Emulated) -> None:
    emulated.faults(abnormal_exit=True)
    recording = start(emulated, "crashy", uids=["9"])
    first = emulated.recording_in(recording["id"], "active")
    emulated.session_in(first["sid"], "failed")
    restarted = emulated.wait_for(
        "restart",
        lambda: (
            (r := emulated.recording(recording["id"]))["restarts"] == 1
            and r["state"] == "active"
            and r
        ),
    )
    assert restarted["recorder_uid"] != first["recorder_uid"]
    assert restarted["resource_ids"][0] == first["resource_id"]
    emulated.session_in(restarted["sid"], "recording")


def test_an_unconfirmed_start_restarts(emulated: Emulated) -> None:
    emulated.faults(never_records=True)
    recording = start(emulated, "silent")
    restarted = emulated.wait_for(
        "restart", lambda: emulated.recording(recording["id"])["restarts"] == 1, timeout_s=30
    )
    assert restarted
    recording = emulated.recording(recording["id"])
    assert recording["restart_reasons"] == ["start not confirmed within 3 s"]
    # The unconfirmed task was stopped before the new one started: one live task, and the
    # old session ended rather than left "started".
    old = recording["sids"][0]
    assert emulated.stats()["sessions"][old]["state"] == "ended"
    emulated.session_in(old, "exited")


@pytest.mark.parametrize(
    ("faults", "calls"),
    [
        ({"start_206": 1}, {"acquire": 1, "start": 2}),
        ({"server_errors": 1}, {"acquire": 2, "start": 1}),
        ({"rate_limited": 1}, {"acquire": 2, "start": 1}),
    ],
)
def test_transient_rest_failures_are_retried(
    emulated: Emulated,
    faults: dict,
    calls: dict,  # type: ignore[type-arg]
) -> None:
    emulated.faults(**faults)
    recording = start(emulated, "retry")
    emulated.recording_in(recording["id"], "active")
    seen = emulated.stats()["calls"]
    assert {k: seen[k] for k in calls} == calls
    assert emulated.recording(recording["id"])["restarts"] == 0


def test_stop_with_nothing_recorded(emulated: Emulated) -> None:
    emulated.faults(stop_nothing_recorded=1)
    recording = start(emulated, "empty")
    emulated.recording_in(recording["id"], "active")
    emulated.api("POST", f"/api/recordings/{recording['id']}/stop")
    stopped = emulated.recording_in(recording["id"], "stopped")
    assert stopped["ended_reason"] == "nothing_recorded"


def test_bad_requests_are_refused_by_field(emulated: Emulated) -> None:
    for body, field in [
        ({}, "cname"),
        ({"cname": "x", "uids": ["a"]}, "uids"),
        ({"cname": "x", "uids": [str(i) for i in range(33)]}, "uids"),
        ({"cname": "x", "max_idle_time": 1}, "max_idle_time"),
    ]:
        answer = emulated.api("POST", "/api/recordings", json=body)
        assert answer.status_code == 400
        assert field in answer.json()["fields"]
    assert emulated.api("GET", "/api/recordings/nope").status_code == 404
    assert emulated.stats()["total"] == 0


def test_other_services_enqueue_the_public_jobs(emulated: Emulated, redis: redis_lib.Redis) -> None:
    queue = Queue("recbridge-control", connection=redis)
    first = queue.enqueue("workers.control.start_recording", "jobs-room", ["3"])
    second = queue.enqueue("workers.control.start_recording", cname="jobs-room", uids=["3"])
    ids = emulated.wait_for(
        "both jobs",
        lambda: (
            [j.return_value() for j in (first, second)]
            if all(j.get_status() == "finished" for j in (first, second))
            else None
        ),
    )
    assert ids[0] == ids[1]
    emulated.recording_in(ids[0], "active")
    stops = [queue.enqueue("workers.control.stop_recording", ids[0]) for _ in range(2)]
    emulated.recording_in(ids[0], "stopped")
    emulated.wait_for("stop jobs", lambda: all(j.get_status() == "finished" for j in stops))
    calls = emulated.stats()["calls"]
    assert (calls["start"], calls["stop"]) == (1, 1)
