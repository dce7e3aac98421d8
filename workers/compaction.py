"""Finished sessions, compacted: what the API shows, without the full event bodies.

A finished 16-event session held ~10 KB of timeline, nearly all of it the events' bodies,
kept so that a late event can be applied by replaying every event in order. Once a session
has been final for ``COMPACT_AFTER_S`` with no change, the session and its timeline become
one compressed value under the session's key: the session JSON as it was, and one short
row per distinct event (noticeId, times, type). Every distinct event stays listed once,
resends and redundant copies are still recognised, payloads are gone. An event that
arrives after that (rare: NCS resends within minutes) is applied on top of the session
instead of by a replay, and logged; the rows then move back to the timeline hash.
"""

from __future__ import annotations

import logging
import time
import zlib
from typing import Any

import orjson
from redis import Redis, WatchError
from rq import get_current_job

from workers import jobs, keys, periodic, transitions
from workers.lua import LuaScript

log = logging.getLogger("recbridge.compaction")

COMPACT_AFTER_S = 3600
BATCH = 500
RUN_BUDGET_S = 200  # within the periodic job's 300 s timeout; what is left waits 5 minutes
# KEYS: the schedule. ARGV: sid, the score it was read with.
FORGET_UNLESS_RESCHEDULED = LuaScript(
    "if redis.call('ZSCORE', KEYS[1], ARGV[1]) == ARGV[2] then"
    " return redis.call('ZREM', KEYS[1], ARGV[1]) end return 0"
)

# msgName of each event type (agora-reference §2.3); a row stores msgName only when an
# event says otherwise.
MSG_NAMES = {
    1: "cloud_recording_error",
    2: "cloud_recording_warning",
    3: "cloud_recording_status_update",
    4: "cloud_recording_file_infos",
    11: "session_exit",
    12: "session_failover",
    30: "uploader_started",
    31: "uploaded",
    32: "backuped",
    33: "uploading_progress",
    40: "recorder_started",
    41: "recorder_leave",
    42: "recorder_slice_start",
    43: "recorder_audio_stream_state_changed",
    44: "recorder_video_stream_state_changed",
    45: "recorder_snapshot_file",
}


def is_compact(raw: bytes | str) -> bool:
    """A timeline hash value that is a compact row (not a full entry)."""
    return (raw[:1] == b"[") if isinstance(raw, bytes) else raw.startswith("[")


def pack(session: dict[str, Any], rows: dict[str, bytes]) -> bytes:
    """A compacted session's stored value (never starts with ``{``, unlike plain JSON)."""
    body = {"s": session, "t": {identity: orjson.loads(row) for identity, row in rows.items()}}
    return zlib.compress(orjson.dumps(body), 6)


def unpack(raw: bytes | str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A stored session value: the session, and its timeline rows when it was compacted."""
    if isinstance(raw, str):
        raw = raw.encode()
    if raw[:1] == b"{":
        return orjson.loads(raw), {}
    body = orjson.loads(zlib.decompress(raw))
    return body["s"], {identity: orjson.dumps(row) for identity, row in body["t"].items()}


def session_of(raw: bytes | str) -> dict[str, Any]:
    return unpack(raw)[0]


def compact_row(entry: dict[str, Any]) -> bytes:
    """A timeline entry as ``[noticeId, sendts, received - sendts, applied - received]``,
    plus ``eventType, msgName`` when the entry's identity or the table does not give them.
    Short enough (under 64 bytes for Agora's noticeIds) for Redis's compact hash encoding."""
    event = entry["event"]
    payload = _dict(event.get("payload"))
    details = _dict(payload.get("details"))
    sendts = payload.get("sendts")
    sendts = sendts if isinstance(sendts, int) and not isinstance(sendts, bool) else 0
    received = int(entry["received_ms"])
    applied = entry.get("applied_ms")
    row: list[Any] = [
        event["noticeId"],
        sendts,
        received - sendts,
        None if applied is None else int(applied) - received,
    ]
    msg_name = details.get("msgName")
    if not transitions.is_known(event) or MSG_NAMES.get(event["eventType"]) != msg_name:
        row += [event["eventType"], msg_name]
    return orjson.dumps(row)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def shown_from_row(identity: str, raw: bytes) -> dict[str, Any]:
    """A compact row as ``GET /api/sessions/<sid>/events`` lists it (``payload`` null)."""
    row = orjson.loads(raw)
    notice_id, sendts, received_delta, applied_delta = row[:4]
    if len(row) > 4:
        event_type, msg_name = row[4], row[5]
    else:
        event_type = int(identity.split(":")[1])
        msg_name = MSG_NAMES.get(event_type)
    sequence = None if identity.startswith("~") else int(identity.split(":", maxsplit=1)[0])
    received = sendts + received_delta
    return {
        "sequence": sequence,
        "eventType": event_type,
        "msgName": msg_name,
        "noticeId": notice_id,
        "sendts": sendts or None,
        "received_ms": received,
        "applied_ms": None if applied_delta is None else received + applied_delta,
        "known": transitions.is_known({"eventType": event_type}),
        "payload": None,
    }


def schedule(pipe: Any, sid: str, state: str) -> None:
    """In a session write: a final session is compacted once it has not changed for
    ``COMPACT_AFTER_S`` (every write postpones it)."""
    if state in transitions.FINAL_STATES:
        pipe.zadd(keys.sessions_compact(), {sid: int(time.time()) + COMPACT_AFTER_S})


def compact_due_job() -> int:
    """Periodic (queued by workers' upkeep and any `clock`, every 5 minutes): compact the
    sessions that are due, once per slot however many asked."""
    job = get_current_job()
    assert job is not None, "compact_due_job runs as an RQ job"
    if not periodic.claim_run(job.connection, jobs.COMPACT_SESSIONS):
        return 0
    return compact_due(job.connection, budget_s=RUN_BUDGET_S)


def compact_due(
    connection: Redis, now_s: float | None = None, budget_s: float | None = None
) -> int:
    """Compact every session due by ``now_s`` (or as many as ``budget_s`` seconds allow:
    the rest wait for the next run); returns how many were compacted."""
    now_s = time.time() if now_s is None else now_s
    stop_at = None if budget_s is None else time.monotonic() + budget_s
    done = 0
    while stop_at is None or time.monotonic() < stop_at:
        due = connection.zrangebyscore(
            keys.sessions_compact(), 0, now_s, 0, BATCH, withscores=True, score_cast_func=bytes
        )
        for member, score in due:  # type: ignore[str-unpack]
            done += compact_session(connection, keys.text(member))
            # Forget it unless a write rescheduled it meanwhile.
            FORGET_UNLESS_RESCHEDULED.run(connection, [keys.sessions_compact()], [member, score])
        if len(due) < BATCH:
            return done
    return done


def compact_session(connection: Redis, sid: str) -> int:
    """Pack a final session and its timeline into the session's key, atomically with
    respect to drains (they WATCH the session). Returns 1 when it compacted something."""
    session_key, timeline_key = keys.session(sid), keys.timeline(sid)
    with connection.pipeline() as pipe:
        while True:
            try:
                pipe.watch(session_key, timeline_key)  # type: ignore[no-untyped-call]
                raw_session = pipe.get(session_key)
                if raw_session is None:
                    return 0
                session, rows = unpack(raw_session)
                entries = pipe.hgetall(timeline_key)
                if session["state"] not in transitions.FINAL_STATES or not entries:
                    return 0
                for field, raw in entries.items():
                    rows[keys.text(field)] = (
                        raw if is_compact(raw) else compact_row(orjson.loads(raw))  # type: ignore[assignment]
                    )
                pipe.multi()
                pipe.set(session_key, pack(session, rows), keepttl=True)
                # The drain version too: a later drain starts it again (WATCH sees the change).
                pipe.delete(timeline_key, keys.drain_version("s:" + sid))
                pipe.execute()
            except WatchError:
                continue
            log.info("session.compacted", extra={"sid": sid, "events": len(rows)})
            return 1
