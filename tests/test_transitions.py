"""The pure session state machine, event by event."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.lifecycle import lifecycle
from tests.support.ncs import VALID_DETAILS, recording_event
from workers import transitions
from workers.files import describe


def after(*steps: tuple[int, dict[str, Any]]) -> dict[str, Any]:
    events = [
        recording_event(t, sid="S", sequence=i, details={**VALID_DETAILS[t], **d})
        for i, (t, d) in enumerate(steps)
    ]
    session = transitions.fold(events)
    assert session is not None
    return session


START = (40, {})


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([START], {"state": "recording"}),
        ([(30, {})], {"state": "started", "upload_status": "uploading"}),
        ([START, (12, {"newUid": 4242})], {"state": "failover", "recorder_uid": "4242"}),
        ([START, (12, {"newUid": 4242}), START], {"state": "recording", "recorder_uid": "4242"}),
        (
            [START, (41, {"leaveCode": 24})],
            {"state": "stopping", "leave_reasons": ["timer_catch", "client_leave"]},
        ),
        ([START, (41, {"leaveCode": 0})], {"leave_reasons": ["init_failed"]}),
        ([START, (41, {"leaveCode": 4})], {"leave_reasons": ["no_users"]}),
        ([START, (11, {"exitStatus": 0})], {"state": "exited", "exit_status": 0}),
        ([START, (11, {"exitStatus": 1})], {"state": "failed", "exit_status": 1}),
        ([START, (3, {"status": 20})], {"state": "failed", "service_status": 20}),
        ([START, (3, {"status": 6})], {"state": "stopping"}),
        ([(3, {"status": 5})], {"state": "recording"}),
        ([START, (11, {"exitStatus": 0}), START], {"state": "exited"}),
        ([START, (11, {"exitStatus": 0}), (12, {"newUid": 5})], {"state": "exited"}),
        ([START, (11, {"exitStatus": 1}), (11, {"exitStatus": 0})], {"state": "failed"}),
        (
            [START, (11, {"exitStatus": 0}), (31, {})],
            {"state": "exited", "upload_status": "uploaded", "upload_progress": 10000},
        ),
        ([START, (32, {}), (33, {"progress": 100})], {"upload_status": "backuped"}),
        (
            [(33, {"progress": 700}), (33, {"progress": 300})],
            {"upload_status": "uploading", "upload_progress": 700},
        ),
        ([START, (1, {"errorLevel": 5})], {"at_risk": True}),
        ([START, (1, {"errorLevel": 3})], {"at_risk": False}),
        (
            [START, (2, {"warnCode": 32})],
            {"warnings": [{"module": 1, "code": 32, "at_ms": 1_700_000_001_000}]},
        ),
        ([START, (44, {}), (45, {}), (70, {})], {"state": "recording", "last_sequence": 3}),
    ],
)
def test_transition_table(
    steps: list[tuple[int, dict[str, Any]]], expected: dict[str, Any]
) -> None:
    session = after(*steps)
    assert {k: session[k] for k in expected} == expected


def test_errors_carry_module_code_level_message_and_time() -> None:
    session = after(START, (1, {}))
    assert session["errors"] == [
        {
            "module": 1,
            "code": 47,
            "level": 3,
            "message": "upload failed",
            "at_ms": 1_700_000_001_000,
        }
    ]


def test_audio_state_per_uid_accepts_both_casings() -> None:
    name = {"msgName": "recorder_audio_stream_state_changed"}
    session = transitions.fold(
        [
            recording_event(
                43, sequence=0, details={**name, "streamUid": "7", "state": 0, "UtcMs": 10}
            ),
            recording_event(
                43, sequence=1, details={**name, "streamUid": "8", "state": 0, "utcMs": 20}
            ),
            recording_event(
                43, sequence=2, details={**name, "streamUid": "7", "state": 1, "UtcMs": 30}
            ),
        ]
    )
    assert session is not None
    assert session["streams"] == {
        "7": {"audio": "stopped", "changed_ms": 30},
        "8": {"audio": "receiving", "changed_ms": 20},
    }


def test_slices_record_discontinuities() -> None:
    session = after(
        (42, {"streamUid": "7", "startUtcMs": 100, "discontinueUtcMs": 100}),
        (42, {"streamUid": "7", "startUtcMs": 500, "discontinueUtcMs": 400}),
    )
    assert session["slices"]["7"] == {
        "first_start_ms": 100,
        "discontinuities": [{"stopped_ms": 400, "resumed_ms": 500}],
    }


def test_sequence_gaps_are_visible() -> None:
    events = [recording_event(43, sid="S", sequence=s) for s in (0, 1, 4, 5, 9)]
    session = transitions.fold(events)
    assert session is not None
    assert session["sequence_gaps"] == [[2, 3], [6, 8]]
    assert session["last_sequence"] == 9


def test_file_inventory_merges_4_31_32_once_per_name_with_per_uid_view() -> None:
    events = lifecycle("S1", uids=("1", "2"))
    session = transitions.fold(events)
    assert session is not None
    names = [f["fileName"] for f in session["files"]]
    assert len(names) == len(set(names)) == 2
    assert all(f["isPlayable"] for f in session["files"])
    assert set(transitions.files_by_uid(session)) == {"1", "2"}


def test_failover_and_backup_playlists_are_recognisable() -> None:
    assert describe("p/bak0_sid_ch__uid_s_12__uid_e_audio.m3u8")["failover_index"] == 0
    assert describe("sid_ch__uid_s_12__uid_e_audio_1690000_3.m3u8")["backup_restore"] == {
        "tick": 1690000,
        "index": 3,
    }
    plain = describe("sid_ch__uid_s_12__uid_e_audio.m3u8")
    assert (plain["uid"], plain["trackType"], plain["failover_index"]) == ("12", "audio", None)


def test_unknown_event_types_change_nothing_but_take_their_place_in_the_sequence() -> None:
    before = after(START)
    unknown = recording_event(40, sid="S", sequence=1)
    unknown["eventType"] = 13
    later = recording_event(30, sid="S", sequence=2)
    assert transitions.apply(before, unknown) == {**before, "last_sequence": 1}
    assert transitions.apply(None, unknown) is None
    # No false gap, whichever arrives first, and an unknown first event is counted too.
    for events in ([unknown, later], [later, unknown]):
        assert transitions.fold(events, before)["sequence_gaps"] == []  # type: ignore[index]
    first = recording_event(40, sid="S", sequence=0)
    first["eventType"] = 13
    folded = transitions.fold([first, recording_event(40, sid="S", sequence=1)])
    assert folded is not None and folded["sequence_gaps"] == []


def test_times_come_from_events_so_state_is_deterministic() -> None:
    session = after(START, (11, {"exitStatus": 0}))
    assert session["started_ms"] == 1_700_000_000_000
    assert session["ended_ms"] == session["updated_ms"] == 1_700_000_001_000


def test_session_exit_completes_a_session_a_rest_answer_ended() -> None:
    base = transitions.new_session("S", "room", "1")
    stopped = transitions.observe_status(base, 8, [], 5, upload_status="uploaded")
    assert (stopped["state"], stopped["exit_status"], stopped["upload_status"]) == (
        "exited",
        None,
        "uploaded",
    )
    done = transitions.apply(stopped, recording_event(11, sid="S", sequence=3))
    assert done is not None and (done["state"], done["exit_status"]) == ("exited", 0)
    crashed = transitions.apply(
        stopped,
        recording_event(
            11, sid="S", sequence=3, details={"msgName": "session_exit", "exitStatus": 1}
        ),
    )
    assert crashed is not None and (crashed["state"], crashed["exit_status"]) == ("failed", 1)
