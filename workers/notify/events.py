"""Which notifications a state change causes: pure functions of (before, after).

Each returns ``(type, data)`` pairs; ``data`` always carries ``cname``, ``version`` and the
``sid`` and/or ``recording_id`` it is about. ``version`` grows with every write of that
object (a recording's own counter; a session's commit counter), so a consumer keeps the
highest it has seen and drops older ones.
"""

from __future__ import annotations

from typing import Any

EVENT_TYPES = (
    "recording.active",
    "recording.restarting",
    "recording.stopped",
    "recording.failed",
    "session.exited",
    "session.files_uploaded",
    "session.files_backed_up",
    "stream.audio_changed",
    "session.callbacks_missing",
)

Message = tuple[str, dict[str, Any]]


def next_version(before: dict[str, Any] | None) -> int:
    return int((before or {}).get("version") or 0) + 1


def _recording_base(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "recording_id": r["id"],
        "cname": r["cname"],
        "sid": r.get("sid"),
        "state": r["state"],
        "version": r["version"],
    }


def recording_messages(before: dict[str, Any] | None, after: dict[str, Any]) -> list[Message]:
    """``after`` already carries its new ``version``."""
    was = before["state"] if before else None
    now = after["state"]
    base = _recording_base(after)
    out: list[Message] = []
    if now == "active" and (was != "active" or (before or {}).get("sid") != after.get("sid")):
        out.append(
            (
                "recording.active",
                {**base, "recorder_uid": after.get("recorder_uid"), "uids": after.get("uids")},
            )
        )
    restarts = int(after.get("restarts") or 0)
    if restarts > int((before or {}).get("restarts") or 0):
        reasons = after.get("restart_reasons") or []
        out.append(
            (
                "recording.restarting",
                {**base, "restarts": restarts, "reason": reasons[-1] if reasons else None},
            )
        )
    if now != was and now == "stopped":
        out.append(
            (
                "recording.stopped",
                {
                    **base,
                    "sids": after.get("sids", []),
                    "upload_status": after.get("upload_status"),
                    "ended_reason": after.get("ended_reason"),
                },
            )
        )
    if now != was and now == "failed":
        out.append(("recording.failed", {**base, "error": after.get("error")}))
    return out


def _session_base(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "sid": s["sid"],
        "recording_id": s.get("recording_id"),
        "cname": s["cname"],
        "version": s["version"],
    }


def _files_by_uid(session: dict[str, Any]) -> dict[str, list[str]]:
    view: dict[str, list[str]] = {}
    for entry in session.get("files") or []:
        view.setdefault(str(entry.get("uid") or "unknown"), []).append(entry["fileName"])
    return view


def session_messages(before: dict[str, Any] | None, after: dict[str, Any]) -> list[Message]:
    """``after`` already carries its new ``version``."""
    prior = before or {}
    base = _session_base(after)
    out: list[Message] = []
    final = ("exited", "failed")
    if after["state"] in final and prior.get("state") not in final:
        out.append(
            (
                "session.exited",
                {
                    **base,
                    "state": after["state"],
                    "exit_status": after.get("exit_status"),
                    "ended_ms": after.get("ended_ms"),
                },
            )
        )
    upload, was_upload = after.get("upload_status"), prior.get("upload_status")
    if upload != was_upload and upload == "uploaded":
        out.append(("session.files_uploaded", {**base, "files_by_uid": _files_by_uid(after)}))
    if upload != was_upload and upload == "backuped":
        out.append(("session.files_backed_up", {**base, "files_by_uid": _files_by_uid(after)}))
    streams_before = prior.get("streams") or {}
    for uid, stream in sorted((after.get("streams") or {}).items()):
        old = streams_before.get(uid) or {}
        if stream.get("audio") != old.get("audio"):
            out.append(
                (
                    "stream.audio_changed",
                    {
                        **base,
                        "uid": uid,
                        "audio": stream.get("audio"),
                        "changed_ms": stream.get("changed_ms"),
                    },
                )
            )
    # Gaps still open once a ``query`` answer was folded in: callbacks Agora never sent.
    gaps = after.get("sequence_gaps") or []
    reconciled = after.get("observed") and after.get("observed") != prior.get("observed")
    if gaps and reconciled and (not prior.get("observed") or gaps != prior.get("sequence_gaps")):
        out.append(
            (
                "session.callbacks_missing",
                {**base, "gaps": gaps, "last_sequence": after.get("last_sequence")},
            )
        )
    return out
