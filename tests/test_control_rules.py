"""The pure decisions of recording control and on-demand recording."""

from __future__ import annotations

from typing import Any

import pytest

from config.settings import Settings
from tests.support.ncs import channel_event
from workers import autorecord, channels, recordings, transitions

NOW = 1_800_000_000_000


def recording(**changes: Any) -> dict[str, Any]:
    base = recordings.new_recording("room", None, 300, "api")
    base.update(state="active", sid="S", wanted=True, session_started_ms=NOW - 1000)
    base.update(changes)
    return base


def session(**changes: Any) -> dict[str, Any]:
    base = transitions.new_session("S", "room", "1")
    base.update(changes)
    return base


@pytest.mark.parametrize(
    ("rec", "sess", "kind", "state"),
    [
        (recording(), session(state="recording"), "confirm", None),
        (recording(confirmed=True), session(state="recording"), "none", None),
        (recording(), session(state="failed", exit_status=1), "restart", None),
        (recording(), session(state="recording", service_status=20), "restart", None),
        (
            recording(),
            session(state="exited", exit_status=0, leave_reasons=["no_users"]),
            "finish",
            "stopped",
        ),
        (recording(wanted=False, state="stopping"), session(state="failed"), "finish", "stopped"),
        (recording(session_started_ms=NOW - 91_000), None, "replace", None),
        (recording(), session(state="recording", errors=[{"level": 5, "at_ms": 1}]), "query", None),
        (recording(sid=None, adopting={"uid": "1"}), session(state="failed"), "none", None),
        (recording(session_started_ms=NOW - 89_000), None, "none", None),
        (recording(confirmed=True, session_started_ms=NOW - 500_000), None, "none", None),
        (recording(state="requested"), session(state="failed"), "none", None),
        (recording(sid="OTHER"), session(state="failed"), "none", None),
    ],
)
def test_decide(
    rec: dict[str, Any], sess: dict[str, Any] | None, kind: str, state: str | None
) -> None:
    action = recordings.decide(rec, sess, NOW, 90)
    assert (action.kind, action.state) == (kind, state)


def test_recorder_uids_are_32_bit_and_avoid_the_channel() -> None:
    avoid = {str(u) for u in range(1, 100)}
    for _ in range(200):
        uid = recordings.new_recorder_uid(avoid)
        assert uid not in avoid and 1 <= int(uid) <= 2**32 - 1 and uid == str(int(uid))


def test_stale_channel_events_are_discarded_by_client_seq() -> None:
    channel = channels.new_channel("room")
    channel, fresh = channels.apply_channel_event(channel, channel_event(103, clientSeq=10))
    assert fresh and channel["users"]["12121212"]["present"]
    channel, fresh = channels.apply_channel_event(channel, channel_event(104, clientSeq=9))
    assert not fresh and channel["users"]["12121212"]["present"]
    channel, fresh = channels.apply_channel_event(channel, channel_event(104, clientSeq=11))
    assert fresh and not channel["users"]["12121212"]["present"]


@pytest.mark.parametrize(
    ("events", "active", "action"),
    [
        ([channel_event(103)], None, "start"),
        ([channel_event(107, platform=1)], None, "start"),
        ([channel_event(111)], None, "start"),
        ([channel_event(105)], None, None),  # audience
        ([channel_event(107)], None, None),  # platform 6, clientType 10: the recorder itself
        ([channel_event(103, uid=777)], {"recorder_uids": ["777"]}, None),  # a known recorder
        ([channel_event(103), channel_event(102)], {"recorder_uids": []}, "stop"),
    ],
)
def test_autorecord_decide(
    events: list[dict[str, Any]], active: dict[str, Any] | None, action: str | None
) -> None:
    assert autorecord.decide(events, active) == action


def test_autorecord_glob() -> None:
    settings = Settings(auto_record_channels="class-*, vip")
    assert autorecord.wanted(settings, "class-7") and autorecord.wanted(settings, "vip")
    assert not autorecord.wanted(settings, "viper") and not autorecord.wanted(Settings(), "x")
