"""What the console shows, computed from sessions, events and recordings: pure functions.

The pages read through the same functions as ``/api/*`` (``session_queries``,
``recordings``, ``deadletters``); these turn that data into what an operator reads: badges,
the exit story, a timeline with late and out-of-order arrivals marked, and audio lanes on
one time axis (SVG coordinates).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from workers import transitions

LEAVE_WORDS = {
    "init_failed": "the recorder failed to initialise",
    "sigint": "the recording service was interrupted (SIGINT)",
    "no_users": "nobody was left in the channel (idle time reached)",
    "timer_catch": "timer catch (Agora: ignore)",
    "client_leave": "the recorder left the channel (a stop)",
}
STATE_WORDS = {
    "started": "started, not yet recording",
    "recording": "recording",
    "failover": "failing over to another recorder",
    "stopping": "stopping",
    "exited": "ended normally",
    "failed": "ended abnormally",
}
LANE_WIDTH = 1000  # SVG user units of the time axis


def utc_text(ms: int | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def utc_iso(ms: int | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def backup_files(session: dict[str, Any]) -> list[dict[str, Any]]:
    """Files that wait in (or came back from) Agora's backup storage."""
    return [f for f in session.get("files") or [] if f.get("backup_restore")]


def missing_sequences(session: dict[str, Any]) -> int:
    return sum(high - low + 1 for low, high in session.get("sequence_gaps") or [])


def badges(session: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, text) for what needs an operator's eye; empty when all is well."""
    shown: list[tuple[str, str]] = []
    if session.get("at_risk"):
        shown.append(("risk", "at risk"))
    if session.get("errors"):
        shown.append(("error", f"{len(session['errors'])} error(s)"))
    missing = missing_sequences(session)
    if missing:
        shown.append(("gap", f"{missing} callback(s) missing"))
    if session.get("upload_status") == "backuped" or backup_files(session):
        shown.append(("backup", "files in backup storage"))
    if session.get("failovers"):
        shown.append(("failover", f"{len(session['failovers'])} failover(s)"))
    return shown


def exit_story(session: dict[str, Any]) -> list[str]:
    """Plain sentences: how the session ended (or where it stands), why, and what followed."""
    story = [f"State: {STATE_WORDS.get(session.get('state') or '', session.get('state'))}."]
    reasons = session.get("leave_reasons") or []
    if reasons:
        words = "; ".join(LEAVE_WORDS.get(r, r) for r in reasons)
        story.append(f"Recorder left (leaveCode {session.get('leave_code')}): {words}.")
    exit_status = session.get("exit_status")
    if exit_status is not None:
        story.append(
            "session_exit: exitStatus 0, a normal exit."
            if exit_status == 0
            else f"session_exit: exitStatus {exit_status}, an abnormal exit."
        )
    for failover in session.get("failovers") or []:
        story.append(f"Failed over to recorder uid {failover['new_uid']}.")
    upload = session.get("upload_status")
    if upload == "backuped":
        story.append("Some files went to Agora's backup storage; Agora uploads them later.")
    elif upload:
        story.append(f"Upload: {upload}.")
    observed = session.get("observed")
    if observed and session.get("state") in transitions.FINAL_STATES and exit_status is None:
        story.append(f"Ended as seen by a query (status {observed['status']}), no session_exit.")
    return story


def timeline_rows(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Distinct events in sequence order, each marked ``out_of_order`` when a later event
    (higher sequence) had arrived before it, and ``late`` when it comes before
    ``session_exit`` in sequence yet arrived after it (it changes nothing any more)."""
    received = [e.get("received_ms") or 0 for e in events]
    # The earliest arrival among the events after each one, in one pass from the end.
    earliest_after = [0] * len(events)
    earliest = None
    for index in range(len(events) - 1, -1, -1):
        earliest_after[index] = earliest if earliest is not None else received[index]
        earliest = received[index] if earliest is None else min(earliest, received[index])
    exit_at = next((i for i, e in enumerate(events) if e["eventType"] == 11 and received[i]), None)
    rows = []
    for index, event in enumerate(events):
        details = _details(event)
        rows.append(
            {
                **event,
                "out_of_order": earliest_after[index] < received[index],
                "late": exit_at is not None
                and index < exit_at
                and received[index] > received[exit_at],
                "lag_ms": (event["applied_ms"] - received[index])
                if event.get("applied_ms") and received[index]
                else None,
                "summary": summarise(event["eventType"], details),
                "bad": event["eventType"] == 1
                or (event["eventType"] == 11 and details.get("exitStatus") not in (None, 0)),
            }
        )
    return rows


def summarise(event_type: int, d: dict[str, Any]) -> str:
    """One line of what the event says."""
    if event_type == 43:
        return (
            f"uid {d.get('streamUid')}: audio {'receiving' if d.get('state') == 0 else 'stopped'}"
        )
    if event_type == 42:
        return f"uid {d.get('streamUid')}: slice starts"
    if event_type == 41:
        reasons = transitions.decode_leave_code(d["leaveCode"]) if "leaveCode" in d else []
        return f"leaveCode {d.get('leaveCode')} ({', '.join(reasons)})"
    if event_type == 11:
        return f"exitStatus {d.get('exitStatus')}"
    if event_type == 12:
        return f"new recorder uid {d.get('newUid')}"
    if event_type == 1:
        return f"error {d.get('errorCode')} level {d.get('errorLevel')}: {d.get('errorMsg', '')}"
    if event_type == 2:
        return f"warning {d.get('warnCode')}"
    if event_type == 3:
        return f"status {d.get('status')}"
    if event_type == 33:
        return f"upload {int(d.get('progress') or 0) / 100:.0f} %"
    if event_type in (31, 32):
        return f"{len(d.get('fileList') or [])} file(s)"
    if event_type == 4:
        return str(d.get("fileList", ""))
    return ""


def _details(event: dict[str, Any]) -> dict[str, Any]:
    details = (event.get("payload") or {}).get("details")
    return details if isinstance(details, dict) else {}


def lanes(session: dict[str, Any], events: list[dict[str, Any]], now_ms: int) -> dict[str, Any]:
    """Per-uid audio lanes on one axis: segments receiving / stopped (event 43), slice
    starts and discontinuities (event 42), as x positions in ``0..LANE_WIDTH``."""
    changes: dict[str, list[tuple[int, str]]] = {}
    slices: dict[str, list[dict[str, int]]] = {}
    for event in events:
        d = _details(event)
        uid = str(d.get("streamUid", ""))
        if event["eventType"] == 43 and uid:
            at = d.get("UtcMs", d.get("utcMs")) or event.get("sendts") or 0
            changes.setdefault(uid, []).append(
                (int(at), "receiving" if d.get("state") == 0 else "stopped")
            )
        elif event["eventType"] == 42 and uid:
            start, stop = d.get("startUtcMs"), d.get("discontinueUtcMs")
            if isinstance(start, int):
                slices.setdefault(uid, []).append(
                    {"start": start, "stop": stop if isinstance(stop, int) else start}
                )
    # A compacted session's events have no details: the session keeps the last change per
    # uid and its slices, which is all that can be drawn then.
    partial = False
    for uid, stream in (session.get("streams") or {}).items():
        changes.setdefault(uid, [])
        if not changes[uid] and stream.get("changed_ms"):
            changes[uid].append((int(stream["changed_ms"]), stream.get("audio") or "stopped"))
            partial = True
    for uid, kept in (session.get("slices") or {}).items():
        if slices.get(uid) or not isinstance(kept.get("first_start_ms"), int):
            continue
        slices[uid] = [{"start": kept["first_start_ms"], "stop": kept["first_start_ms"]}]
        slices[uid] += [
            {"start": d["resumed_ms"], "stop": d["stopped_ms"]}
            for d in kept.get("discontinuities") or []
        ]
    times = [t for c in changes.values() for t, _ in c]
    times += [piece["start"] for pieces in slices.values() for piece in pieces]
    begin = session.get("started_ms") or min(times, default=now_ms)
    begin = min([begin, *times])
    end = session.get("ended_ms") or now_ms
    end = max([end, *times, begin + 1000])
    span = end - begin

    def x(ms: int) -> float:
        return round((ms - begin) * LANE_WIDTH / span, 1)

    rows = []
    for uid in sorted(set(changes) | set(slices)):
        ordered = sorted(changes.get(uid, []))
        segments = []
        for i, (at, state) in enumerate(ordered):
            until = ordered[i + 1][0] if i + 1 < len(ordered) else end
            segments.append(
                {
                    "x": x(at),
                    "w": max(x(until) - x(at), 1.0),
                    "state": state,
                    "from_ms": at,
                    "to_ms": until,
                }
            )
        starts = []
        gaps = []
        for piece in sorted(slices.get(uid, []), key=lambda s: s["start"]):
            starts.append({"x": x(piece["start"]), "at_ms": piece["start"]})
            if piece["stop"] != piece["start"]:
                gaps.append(
                    {
                        "x": x(min(piece["stop"], piece["start"])),
                        "w": max(abs(x(piece["start"]) - x(piece["stop"])), 2.0),
                        "from_ms": piece["stop"],
                        "to_ms": piece["start"],
                    }
                )
        last = ordered[-1][1] if ordered else None
        rows.append({"uid": uid, "segments": segments, "starts": starts, "gaps": gaps, "now": last})
    ticks = [{"x": x(begin + span * i // 4), "ms": begin + span * i // 4} for i in range(5)]
    return {
        "begin_ms": begin,
        "end_ms": end,
        "rows": rows,
        "ticks": ticks,
        "width": LANE_WIDTH,
        "partial": partial,
    }
