"""The one "is this task alive?" rule, row by row, and the session facts it rests on."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import redis as redis_lib
from rq import Queue

from config.settings import Settings
from tests.support.ncs import VALID_DETAILS, channel_event, recording_event
from workers import autorecord, channels, files, keys, recordings, transitions
from workers.agora.answers import Meaning
from workers.agora.answers import judge as judge_answer
from workers.agora.liveness import (
    FAILOVER_WINDOW_S,
    RULES,
    SILENCE_MARGIN_S,
    Evidence,
    Liveness,
    evidence,
    judge,
)
from workers.control import adopting as adopting_module
from workers.control import starting, tasks
from workers.queues import CONTROL_QUEUE

A, D, E, F, U = (
    Liveness.ALIVE,
    Liveness.DEAD,
    Liveness.EXITING,
    Liveness.FAILING_OVER,
    Liveness.UNKNOWN,
)
WINDOW = FAILOVER_WINDOW_S


@pytest.mark.parametrize(
    ("seen", "liveness", "reason", "restart"),
    [
        (Evidence(ended="ended_unobserved"), D, "ended_unobserved", False),
        (Evidence(ended="exited_abnormally", ended_abnormally=True), D, "exited_abnormally", True),
        (Evidence(exit_status=0), D, "exited", False),
        (Evidence(exit_status=1), D, "exited_abnormally", True),
        (Evidence(answer="query", status=20), D, "exited_abnormally", True),
        (Evidence(answer="query", status=8), D, "exited", False),
        (Evidence(answer="stopped"), D, "stopped", False),
        (Evidence(answer="nothing_recorded"), D, "nothing_recorded", False),
        # A 404 after the recorder left (11 lost): gone, whatever the failover window says.
        (Evidence(answer="not_found", left=("no_users",), not_found_s=0), D, "no_users", False),
        (Evidence(answer="not_found", uploaded=True, not_found_s=0), D, "uploaded", False),
        # A 404 while a failover may be under way: alive elsewhere soon.
        (Evidence(answer="not_found", not_found_s=0), F, "not_found_within_failover_window", False),
        (Evidence(answer="not_found", not_found_s=WINDOW - 1), F, None, False),
        (
            Evidence(answer="not_found", uploaded=True, failing_over=True, not_found_s=1),
            F,
            None,
            False,
        ),
        (Evidence(answer="not_found", not_found_s=WINDOW), D, "ended_unobserved", True),
        (Evidence(answer="already_stopping"), E, "already_stopping", False),
        (Evidence(answer="exiting"), E, "exiting", False),
        (Evidence(answer="upload_timeout"), E, "stopped_upload_pending", False),
        (Evidence(answer="query", status=6), E, "stopping", False),
        (Evidence(answer="query", status=7), E, "stopping", False),
        (Evidence(left=("no_users",)), E, "no_users", False),
        (Evidence(failing_over=True), F, "failover", False),
        (Evidence(failing_over=True, answer="query", status=5), F, "failover", False),
        (Evidence(fatal=True), U, "fatal_error", False),
        (Evidence(answer="query", status=5), A, "running", False),
        (Evidence(answer="query", status=0), A, "running", False),
        (Evidence(answer="already_started"), A, "started", False),
        (Evidence(answer="started"), A, "started", False),
        (Evidence(silent_s=30 + 181, max_idle_time=30), U, "silent", False),
        (Evidence(silent_s=30 + 179, max_idle_time=30), A, "no_sign_of_an_end", False),
        (Evidence(), A, "no_sign_of_an_end", False),
    ],
)
def test_the_liveness_table(
    seen: Evidence, liveness: Liveness, reason: str | None, restart: bool
) -> None:
    verdict = judge(seen)
    assert verdict.liveness is liveness
    if reason is not None:
        assert verdict.reason == reason
    assert verdict.restart is restart


def test_every_row_names_its_source_and_is_reachable() -> None:
    assert all(rule.source for rule in RULES)
    assert RULES[-1].applies(Evidence())
    with pytest.raises(ValueError, match="unknown answer"):
        judge(Evidence(answer="maybe"))


def session_after(*steps: tuple[int, dict[str, Any]]) -> dict[str, Any]:
    events = [
        recording_event(t, sid="S", sequence=i, details={**VALID_DETAILS[t], **d})
        for i, (t, d) in enumerate(steps)
    ]
    session = transitions.fold(events)
    assert session is not None
    return session


def test_evidence_from_a_session() -> None:
    lost_exit = session_after((40, {}), (41, {"leaveCode": 4}), (31, {}))
    seen = evidence(lost_exit, answer="not_found", not_found_s=0)
    assert (seen.left, seen.uploaded) == (("no_users",), True)
    assert judge(seen).liveness is D and judge(seen).reason == "no_users"
    failing = session_after((40, {}), (12, {"newUid": 77}))
    assert judge(evidence(failing, answer="not_found", not_found_s=1)).liveness is F
    fatal = session_after((40, {}), (1, {"errorLevel": 5}))
    assert judge(evidence(fatal)).liveness is U
    # A query answered after the fatal error decides instead.
    queried = transitions.observe_status(fatal, 5, [], at_ms=fatal["updated_ms"] + 1)
    assert judge(evidence(queried, answer="query", status=5)).liveness is A
    quiet = evidence(queried, now_ms=queried["updated_ms"] + 400_000, max_idle_time=30)
    assert judge(quiet).reason == "silent"


@pytest.mark.parametrize(
    ("status", "body", "meaning"),
    [
        (400, {"code": 432}, Meaning.CONFIGURATION),
        (400, {"code": 1003}, Meaning.CONFIGURATION),
        (400, {"code": 433}, Meaning.RESOURCE_EXPIRED),
        (400, {"code": 1001}, Meaning.RESOURCE_EXPIRED),
        (400, {"code": 501}, Meaning.EXITING),
        (400, {"code": 50}, Meaning.UPLOAD_TIMEOUT),
        (504, {"code": 50}, Meaning.UPLOAD_TIMEOUT),
    ],
)
def test_answers_that_say_what_the_task_is_doing(
    status: int, body: dict[str, Any], meaning: Meaning
) -> None:
    assert judge_answer(status, body).meaning is meaning


def test_slice_names_with_their_utc_suffix() -> None:
    ts = files.describe("pre/sid713_cnameagora__uid_s_123__uid_e_audio_20190920125142289.ts")
    assert (ts["uid"], ts["trackType"], ts["slice_utc"]) == ("123", "audio", "20190920125142289")
    assert ts["backup_restore"] is None
    bak = files.describe("bak0_sid_c__uid_s_9__uid_e_audio_20190920125142289.ts")
    assert (bak["uid"], bak["failover_index"]) == ("9", 0)


def test_file_list_in_either_mode() -> None:
    name = "p/sid_c__uid_s_7__uid_e_audio.m3u8"
    assert files.from_answer({"fileListMode": "string", "fileList": name}) == [{"fileName": name}]
    listed = [{"fileName": name, "uid": "7"}, {"bad": 1}]
    assert files.from_answer({"fileListMode": "json", "fileList": listed}) == listed[:1]
    assert files.from_answer({"fileList": None}) == []


def test_a_refold_keeps_what_rest_answers_said() -> None:
    stopped = transitions.observe_status(
        session_after((40, {})),
        8,
        [{"fileName": "sid_c__uid_s_7__uid_e_audio.m3u8", "uid": "7"}],
        at_ms=1_700_000_009_000,
        upload_status="uploaded",
    )
    replayed = session_after((40, {}), (30, {}))  # a late 30 makes the drain replay
    kept = transitions.carry_over(replayed, stopped)
    assert (kept["state"], kept["upload_status"]) == ("exited", "uploaded")
    assert [f["uid"] for f in kept["files"]] == ["7"]


def test_failover_copies_are_told_apart_by_uid_and_ordered_after_the_switch() -> None:
    def event(t: int, seq: int, uid: str, **d: Any) -> dict[str, Any]:
        details = {**VALID_DETAILS[t], **d}
        return recording_event(t, sid="S", sequence=seq, uid=uid, details=details)

    old, new = "527841", "9001"
    events = [
        event(40, 0, old),
        event(43, 1, old, streamUid="5", state=1),
        event(12, 2, old, newUid=int(new)),
        event(40, 3, new),
        event(43, 1, new, streamUid="5", state=0),  # the new server's copy, same sequence
    ]
    identities = {transitions.event_identity(e) for e in events}
    assert len(identities) == 5
    for order in (events, list(reversed(events))):
        session = transitions.fold(order)
        assert session is not None
        assert session["state"] == "recording"
        assert session["recorder_uid"] == new
        assert session["streams"]["5"]["audio"] == "receiving"


def test_settle_ends_a_session_once() -> None:
    running = session_after((40, {}))
    ended = transitions.settle(running, "exited", "ended_unobserved", at_ms=5)
    assert (ended["state"], ended["end_reason"], ended["ended_ms"]) == (
        "exited",
        "ended_unobserved",
        5,
    )
    assert transitions.settle(ended, "failed", "other", at_ms=9) == ended


def test_silent_sessions_are_asked_about(redis: redis_lib.Redis) -> None:
    settings = Settings(agora_app_id="app", agora_customer_id="c")
    recording = recordings.new_recording("room", None, 30, "test")
    recording.update(state="stopped", sid="OLD", sids=["OLD", "CUR"])
    recordings.create(redis, recording)
    for sid, sendts in (("OLD", 1_000), ("CUR", 1_000)):
        event = recording_event(40, sid=sid, sequence=0, sendts=sendts)
        session = transitions.fold([event])
        assert session is not None
        session["recording_id"] = recording["id"]
        redis.set(keys.session(sid), orjson.dumps(session))
        redis.zadd(keys.sessions_by_state("recording"), {sid: 1})
    quiet_ms = 1_000 + (30 + SILENCE_MARGIN_S + 1) * 1000
    assert tasks.sweep_silent(redis, settings, now_ms=quiet_ms - 2000) == 0
    assert tasks.sweep_silent(redis, settings, now_ms=quiet_ms) == 2  # both: not wanted
    queued = Queue(CONTROL_QUEUE, connection=redis).get_jobs()
    assert {(j.func_name, j.args[1]) for j in queued} == {
        ("workers.control.retire_task", "OLD"),
        ("workers.control.retire_task", "CUR"),
    }


def test_a_recordings_upload_state_follows_all_its_sessions() -> None:
    recording = recordings.new_recording("room", None, 30, "test")
    recordings.follow_upload(recording, "A", "uploaded")
    recordings.follow_upload(recording, "B", "uploading")
    assert recording["upload_status"] == "uploading"
    recordings.follow_upload(recording, "B", "uploaded")
    recordings.follow_upload(recording, "A", "uploading")  # late: never backwards
    assert (recording["upload_status"], recording["uploads"]) == (
        "uploaded",
        {"A": "uploaded", "B": "uploaded"},
    )


def test_auto_record_waits_for_the_last_person() -> None:
    seq = iter(range(1, 100))

    def event(event_type: int, uid: int, platform: int = 1) -> dict[str, Any]:
        sent = channel_event(event_type, uid=uid, platform=platform, clientSeq=next(seq))
        sent["payload"].pop("clientType", None)  # 107 carries none (agora-reference §3.7)
        return sent

    active = {"recorder_uids": ["77"]}
    recorder_join = event(107, 77, platform=6)  # no clientType: known by its uid
    assert autorecord.decide([recorder_join], active, set()) is None
    assert autorecord.decide([event(108, 5)], active, {"6"}) is None
    assert autorecord.decide([event(108, 5)], active, set()) == "idle"
    assert autorecord.decide([event(107, 5)], None, {"5"}) == "start"
    channel = channels.new_channel("c")
    for e in (recorder_join, event(107, 5), event(108, 5)):
        channel, _ = channels.apply_channel_event(channel, e)
    assert channels.humans(channel, {"77"}) == set()
    assert channels.humans(channel, set()) == {"77"}  # without its uid, it looks human


def test_a_claimed_task_is_adopted_or_retired(redis: redis_lib.Redis) -> None:
    settings = Settings(agora_app_id="app", agora_customer_id="c")

    def claimed(state: str, wanted: bool, uid: str, sid: str) -> str:
        recording = recordings.new_recording(f"room-{sid}", None, 30, "test")
        adopting = {"uid": uid, "resource_id": "R", "since_ms": 1}
        recording.update(state=state, wanted=wanted, adopting=adopting)
        recordings.create(redis, recording)
        starting.claim(redis, settings, recording["id"], recording["cname"], uid, "R")
        session = transitions.fold(
            [recording_event(40, sid=sid, cname=recording["cname"], uid=uid)]
        )
        assert session is not None and adopting_module.adopt(redis, settings, session)
        return str(recording["id"])

    waiting = recordings.load(redis, claimed("active", True, "5", "S1"))
    assert waiting is not None and (waiting["sid"], waiting["adopting"]) == ("S1", None)
    gone = recordings.load(redis, claimed("stopped", False, "6", "S2"))
    assert gone is not None and gone["sid"] is None  # not wanted: never adopted...
    retired = [j.args for j in Queue(CONTROL_QUEUE, connection=redis).get_jobs()]
    assert (gone["id"], "S2", 0) in retired  # ...but stopped
    assert adopting_module.adopt(redis, settings, {**session_of("S3"), "cname": "x"}) is None


def session_of(sid: str) -> dict[str, Any]:
    session = transitions.fold([recording_event(40, sid=sid)])
    assert session is not None
    return session
