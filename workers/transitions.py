"""The session state machine: a pure ``apply(session, event) -> session``.

Events are applied in ``payload.sequence`` order (see ``fold``); given the same distinct
events, every arrival order yields the same session. Times come from the events
themselves (``sendts``), never from the clock, so the result is deterministic.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from workers.files import describe

STARTED, RECORDING, FAILOVER, STOPPING, EXITED, FAILED = (
    "started",
    "recording",
    "failover",
    "stopping",
    "exited",
    "failed",
)
FINAL_STATES = frozenset({EXITED, FAILED})
STATES = (STARTED, RECORDING, FAILOVER, STOPPING, EXITED, FAILED)

UPLOAD_RANK = {None: 0, "uploading": 1, "backuped": 2, "uploaded": 3}

LEAVE_REASONS = {
    2: "sigint",
    4: "no_users",
    8: "timer_catch",
    16: "client_leave",
}

# cloud_recording_status_update (3) and query's serverResponse.status (agora-reference §2.3)
STATUS_TO_STATE = {4: RECORDING, 5: RECORDING, 6: STOPPING, 7: STOPPING, 8: EXITED, 20: FAILED}

ERRORS_KEPT = 50
FATAL_LEVEL = 5


def new_session(sid: str, cname: str, recorder_uid: str) -> dict[str, Any]:
    return {
        "sid": sid,
        "cname": cname,
        "recorder_uid": recorder_uid,
        "recorder_uids": [recorder_uid],
        "resource_id": None,
        "recording_id": None,
        "state": STARTED,
        "upload_status": None,
        "upload_progress": None,
        "exit_status": None,
        "service_status": None,
        "leave_code": None,
        "leave_reasons": [],
        "at_risk": False,
        "last_sequence": -1,
        "sequence_gaps": [],
        "streams": {},
        "slices": {},
        "files": [],
        "errors": [],
        "warnings": [],
        "failovers": [],
        "observed": None,
        "end_reason": None,
        "started_ms": None,
        "ended_ms": None,
        "updated_ms": 0,
    }


def decode_leave_code(code: int) -> list[str]:
    if code == 0:
        return ["init_failed"]
    reasons = [name for bit, name in LEAVE_REASONS.items() if code & bit]
    unknown = code & ~sum(LEAVE_REASONS)
    if unknown:
        reasons.append(f"unknown_{unknown}")
    return reasons


def _move(session: dict[str, Any], state: str) -> None:
    """Change state unless the session is already final."""
    if session["state"] not in FINAL_STATES:
        session["state"] = state


def _advance_upload(session: dict[str, Any], status: str) -> None:
    if UPLOAD_RANK[status] > UPLOAD_RANK[session["upload_status"]]:
        session["upload_status"] = status


def _merge_file(session: dict[str, Any], entry: dict[str, Any]) -> None:
    name = entry["fileName"]
    parsed = describe(name)
    merged = {
        "fileName": name,
        "uid": entry.get("uid") or parsed["uid"],
        "trackType": entry.get("trackType") or parsed["trackType"],
        "isPlayable": entry.get("isPlayable"),
        "sliceStartTime": entry.get("sliceStartTime"),
        "mixedAllUser": entry.get("mixedAllUser"),
        "failover_index": parsed["failover_index"],
        "backup_restore": parsed["backup_restore"],
    }
    for existing in session["files"]:
        if existing["fileName"] == name:
            for key, value in merged.items():
                if value is not None:
                    existing[key] = value
            return
    session["files"].append(merged)
    session["files"].sort(key=lambda f: f["fileName"])


def _note_sequence(session: dict[str, Any], seq: int) -> None:
    """Track the highest sequence seen and which lower ones never arrived."""
    last = session["last_sequence"]
    if seq > last:
        if seq > last + 1:
            session["sequence_gaps"].append([last + 1, seq - 1])
        session["last_sequence"] = seq
        return
    gaps = []
    for low, high in session["sequence_gaps"]:
        if low <= seq <= high:
            if low < seq:
                gaps.append([low, seq - 1])
            if seq < high:
                gaps.append([seq + 1, high])
        else:
            gaps.append([low, high])
    session["sequence_gaps"] = gaps


def apply(session: dict[str, Any] | None, event: dict[str, Any]) -> dict[str, Any] | None:
    """The session after ``event`` (a validated Cloud Recording NCS body); ``session`` is
    left as it was.

    Unknown event types are kept on the timeline by the caller and change nothing here.
    """
    return _apply_in_place(copy.deepcopy(session) if session is not None else None, event)


def _apply_in_place(session: dict[str, Any] | None, event: dict[str, Any]) -> dict[str, Any] | None:
    handler = _HANDLERS.get(event["eventType"])
    payload = event["payload"]
    if handler is None:
        # An event type we do not know still took its place in the sequence: no false gap.
        if session is not None and counts(event):
            _note_sequence(session, payload["sequence"])
        return session
    details = payload.get("details") or {}
    at_ms = payload.get("sendts") or event.get("notifyMs") or 0
    if session is None:
        session = new_session(payload["sid"], payload.get("cname", ""), payload.get("uid", ""))
    _note_sequence(session, payload["sequence"])
    if session["started_ms"] is None:
        session["started_ms"] = at_ms
    handler(session, details, payload, at_ms)
    session["updated_ms"] = max(session["updated_ms"], at_ms)
    return session


def _end(session: dict[str, Any], reason: str) -> None:
    if session["end_reason"] is None:
        session["end_reason"] = reason


def settle(session: dict[str, Any], state: str, reason: str, at_ms: int) -> dict[str, Any]:
    """The session, ended by recording control's judgement (``workers.agora.liveness``):
    what no callback said, a ``query`` or a lasting 404 did. A final session stays as it
    was."""
    session = copy.deepcopy(session)
    if session["state"] in FINAL_STATES:
        return session
    session["state"] = state
    session["end_reason"] = reason
    session["ended_ms"] = at_ms
    session["updated_ms"] = max(session["updated_ms"], at_ms)
    return session


def carry_over(refolded: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    """A session replayed from its events, keeping what only REST answers and control told
    the previous one: files and upload state only grow, and a final state stays final."""
    for entry in previous["files"]:
        _merge_file(refolded, entry)
    if previous["upload_status"] in UPLOAD_RANK:
        _advance_upload(refolded, previous["upload_status"])
    if previous["state"] in FINAL_STATES and refolded["state"] not in FINAL_STATES:
        for name in ("state", "ended_ms", "end_reason"):
            refolded[name] = previous.get(name)
    if refolded["end_reason"] is None:
        refolded["end_reason"] = previous.get("end_reason")
    refolded["observed"] = previous.get("observed")
    return refolded


def _on_error(session: dict[str, Any], d: dict[str, Any], p: dict[str, Any], at: int) -> None:
    session["errors"].append(
        {
            "module": d.get("module"),
            "code": d.get("errorCode"),
            "level": d.get("errorLevel"),
            "message": d.get("errorMsg"),
            "at_ms": at,
        }
    )
    session["errors"] = session["errors"][-ERRORS_KEPT:]
    if d.get("errorLevel") == FATAL_LEVEL:
        session["at_risk"] = True


def _on_warning(session: dict[str, Any], d: dict[str, Any], p: dict[str, Any], at: int) -> None:
    session["warnings"].append({"module": d.get("module"), "code": d.get("warnCode"), "at_ms": at})
    session["warnings"] = session["warnings"][-ERRORS_KEPT:]


def _on_status(session: dict[str, Any], d: dict[str, Any], p: dict[str, Any], at: int) -> None:
    status = d["status"]
    session["service_status"] = status
    target = STATUS_TO_STATE.get(status)
    if target is not None:
        _move(session, target)
        if target in FINAL_STATES and session["ended_ms"] is None:
            session["ended_ms"] = at
        if target in FINAL_STATES:
            _end(session, "exited" if target == EXITED else "exited_abnormally")
    if d.get("fileList"):
        _merge_file(session, {"fileName": d["fileList"]})


def observe_status(
    session: dict[str, Any],
    status: int,
    files: list[dict[str, Any]],
    at_ms: int,
    upload_status: str | None = None,
) -> dict[str, Any]:
    """The session after a REST answer: ``query``'s ``status`` and file list, or a ``stop``
    (status 8, exited, with its ``uploadingStatus``), at ``at_ms``."""
    session = copy.deepcopy(session)
    if upload_status is not None and upload_status in UPLOAD_RANK:
        _advance_upload(session, upload_status)
    session["observed"] = {"status": status, "at_ms": at_ms}
    _on_status(session, {"status": status}, {}, at_ms)
    if status in (4, 5) and session["state"] == STARTED:
        session["state"] = RECORDING
    for entry in files:
        if isinstance(entry, dict) and isinstance(entry.get("fileName"), str):
            _merge_file(session, entry)
    if session["started_ms"] is None:
        session["started_ms"] = at_ms
    session["updated_ms"] = max(session["updated_ms"], at_ms)
    return session


def _on_file_info(session: dict[str, Any], d: dict[str, Any], p: dict[str, Any], at: int) -> None:
    _merge_file(session, {"fileName": d["fileList"]})


def _on_exit(session: dict[str, Any], d: dict[str, Any], p: dict[str, Any], at: int) -> None:
    if session["state"] in FINAL_STATES:
        if session["exit_status"] is None:  # ended by a REST answer: the event completes it
            session["exit_status"] = d["exitStatus"]
            if d["exitStatus"] != 0:
                session["state"] = FAILED
        return
    session["exit_status"] = d["exitStatus"]
    session["state"] = EXITED if d["exitStatus"] == 0 else FAILED
    session["ended_ms"] = at
    _end(session, "exited" if d["exitStatus"] == 0 else "exited_abnormally")


def _on_failover(session: dict[str, Any], d: dict[str, Any], p: dict[str, Any], at: int) -> None:
    new_uid = str(d["newUid"])
    session["failovers"].append({"new_uid": new_uid, "at_ms": at})
    if session["state"] in FINAL_STATES:
        return
    session["state"] = FAILOVER
    session["recorder_uid"] = new_uid
    if new_uid not in session["recorder_uids"]:
        session["recorder_uids"].append(new_uid)


def _on_uploader_started(
    session: dict[str, Any], d: dict[str, Any], p: dict[str, Any], at: int
) -> None:
    _advance_upload(session, "uploading")


def _on_upload_done(session: dict[str, Any], d: dict[str, Any], p: dict[str, Any], at: int) -> None:
    _advance_upload(session, "uploaded" if d["msgName"] == "uploaded" else "backuped")
    session["upload_progress"] = 10000
    for entry in d.get("fileList") or []:
        _merge_file(session, entry)


def _on_progress(session: dict[str, Any], d: dict[str, Any], p: dict[str, Any], at: int) -> None:
    _advance_upload(session, "uploading")
    session["upload_progress"] = max(session["upload_progress"] or 0, d["progress"])


def _on_recorder_started(
    session: dict[str, Any], d: dict[str, Any], p: dict[str, Any], at: int
) -> None:
    if session["state"] in (STARTED, FAILOVER):
        session["state"] = RECORDING


def _on_leave(session: dict[str, Any], d: dict[str, Any], p: dict[str, Any], at: int) -> None:
    session["leave_code"] = d["leaveCode"]
    session["leave_reasons"] = decode_leave_code(d["leaveCode"])
    _move(session, STOPPING)


def _on_slice(session: dict[str, Any], d: dict[str, Any], p: dict[str, Any], at: int) -> None:
    uid = d.get("streamUid", "0")
    start, stop = d.get("startUtcMs"), d.get("discontinueUtcMs")
    slices = session["slices"].setdefault(uid, {"first_start_ms": start, "discontinuities": []})
    if start is not None and stop is not None and stop != start:
        slices["discontinuities"].append({"stopped_ms": stop, "resumed_ms": start})


def _on_audio(session: dict[str, Any], d: dict[str, Any], p: dict[str, Any], at: int) -> None:
    changed = d.get("UtcMs", d.get("utcMs", at))
    session["streams"].setdefault(d["streamUid"], {})
    session["streams"][d["streamUid"]].update(
        {"audio": "receiving" if d["state"] == 0 else "stopped", "changed_ms": changed}
    )


def _ignore(session: dict[str, Any], d: dict[str, Any], p: dict[str, Any], at: int) -> None:
    """Known events that say nothing about an audio recording (video, web, VoD, transcoding)."""


_HANDLERS = {
    1: _on_error,
    2: _on_warning,
    3: _on_status,
    4: _on_file_info,
    11: _on_exit,
    12: _on_failover,
    30: _on_uploader_started,
    31: _on_upload_done,
    32: _on_upload_done,
    33: _on_progress,
    40: _on_recorder_started,
    41: _on_leave,
    42: _on_slice,
    43: _on_audio,
    44: _ignore,
    45: _ignore,
    60: _ignore,
    61: _ignore,
    70: _ignore,
    71: _ignore,
    72: _ignore,
    73: _ignore,
    80: _ignore,
    81: _ignore,
    90: _ignore,
    100: _ignore,
    1001: _ignore,
}


def is_known(event: dict[str, Any]) -> bool:
    return event["eventType"] in _HANDLERS


def _sequence(event: dict[str, Any]) -> int | None:
    sequence = event["payload"].get("sequence")
    return sequence if isinstance(sequence, int) and not isinstance(sequence, bool) else None


def counts(event: dict[str, Any]) -> bool:
    """Whether the event takes a place in the session's sequence: every known event, and
    an unknown one that names its session and sequence."""
    payload = event["payload"]
    return is_known(event) or (_sequence(event) is not None and isinstance(payload.get("sid"), str))


def event_identity(event: dict[str, Any]) -> str:
    """One entry per distinct event: resends and Agora's redundant copies share it.

    During a failover "some notifications may be sent twice; the uid tells them apart"
    (agora-reference §2.3, event 12): the recorder uid is part of the identity. Known events
    sort by sequence; unknown ones without a sequence after them.
    """
    sequence = _sequence(event)
    if is_known(event) or sequence is not None:
        uid = event["payload"].get("uid")
        return (
            f"{sequence or 0:012d}:{event['eventType']:05d}:{uid if isinstance(uid, str) else ''}"
        )
    return f"~{event['noticeId']}"


def _generations(events: list[dict[str, Any]]) -> dict[str, int]:
    """Recorder uid -> how many failovers preceded it (0 for the uid the task started with)."""
    failovers = sorted((e for e in events if e["eventType"] == 12), key=lambda e: _sequence(e) or 0)
    generations: dict[str, int] = {}
    for number, event in enumerate(failovers, start=1):
        generations.setdefault(str(event["payload"]["details"]["newUid"]), number)
    return generations


def fold(
    events: Iterable[dict[str, Any]], session: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """Apply distinct ``events`` in order, ``session`` being the state before them (left as
    it was: it is copied once, not once per event). The order is the sequence within each
    recorder uid, a failover's new uid after the uid it replaced."""
    events = list(events)
    generations = _generations(events)

    def order(event: dict[str, Any]) -> tuple[int, str]:
        uid = event["payload"].get("uid")
        return generations.get(uid, 0) if isinstance(uid, str) else 0, event_identity(event)

    current = copy.deepcopy(session) if session is not None else None
    unplaced: list[int] = []  # sequences of unknown events before the session's first event
    for event in sorted(events, key=order):
        if current is None and not is_known(event):
            sequence = _sequence(event)
            if sequence is not None:
                unplaced.append(sequence)
            continue
        current = _apply_in_place(current, event)
        if current is not None and unplaced:
            for sequence in unplaced:
                _note_sequence(current, sequence)
            unplaced = []
    return current


def files_by_uid(session: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    view: dict[str, list[dict[str, Any]]] = {}
    for entry in session["files"]:
        view.setdefault(entry.get("uid") or "unknown", []).append(entry)
    return view
