"""Recordings: the desired state "keep channel X recorded", stored in Redis, and the pure
``decide`` that compares a recording with what Agora actually runs (its session).

States: requested → starting → active → stopping → stopped, or failed.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from redis import Redis, WatchError

from workers import keys
from workers.agora import liveness
from workers.indexes import newest_first
from workers.notify import outbox

REQUESTED, STARTING, ACTIVE, STOPPING, STOPPED, FAILED = (
    "requested",
    "starting",
    "active",
    "stopping",
    "stopped",
    "failed",
)
RECORDING_STATES = (REQUESTED, STARTING, ACTIVE, STOPPING, STOPPED, FAILED)
FINAL = frozenset({STOPPED, FAILED})
# A recording is kept this long after its last change. Recording control rewrites a live
# one at every poll, so only finished (or abandoned) recordings ever reach it.
RETENTION_S = 30 * 24 * 3600
UINT32_MAX = 2**32 - 1


def now_ms() -> int:
    return int(time.time() * 1000)


def new_recording(
    cname: str, uids: list[str] | None, max_idle_time: int, source: str
) -> dict[str, Any]:
    created = now_ms()
    return {
        "id": secrets.token_hex(12),
        "cname": cname,
        "uids": uids,
        "max_idle_time": max_idle_time,
        "source": source,
        "state": REQUESTED,
        "wanted": True,
        "sid": None,
        "sids": [],
        "resource_id": None,
        "resource_ids": [],
        "recorder_uid": None,
        "recorder_uids": [],
        "restarts": 0,
        "rollovers": 0,
        "restart_reasons": [],
        "confirmed": False,
        "session_started_ms": None,
        "not_found": 0,
        "failover_404s": 0,
        "upload_status": None,
        "uploads": {},
        "tasks": {},  # sid -> {"resource_id", "uid"}: every Agora task this recording ran
        "adopting": None,  # {"uid", "resource_id", "since_ms"}: started, sid not yet known
        "not_found_since": {},  # sid -> ms of the first 404 of the current run of them
        "ended_reason": None,
        "error": None,
        "created_ms": created,
        "updated_ms": created,
    }


def new_recorder_uid(avoid: set[str]) -> str:
    """A random 32-bit uid, as a decimal string, never one already in the channel."""
    while True:
        uid = str(secrets.randbelow(UINT32_MAX) + 1)
        if uid not in avoid:
            return uid


def public_view(recording: dict[str, Any]) -> dict[str, Any]:
    return dict(recording)  # holds no secret; kept as a seam for the API's shape


# ---- upload truth: pure -------------------------------------------------------------

_UPLOAD_RANK = {"uploading": 1, "backuped": 2, "uploaded": 3}


def upload_summary(uploads: dict[str, str | None]) -> str | None:
    """A recording's upload state from its sessions' (sid -> upload_status): the least
    advanced of those that reported one, so "uploaded" means every session's files are in
    storage; "backuped" that some wait in Agora's backup cloud."""
    known = [u for u in uploads.values() if u in _UPLOAD_RANK]
    return min(known, key=_UPLOAD_RANK.__getitem__) if known else None


def follow_upload(recording: dict[str, Any], sid: str, upload_status: str | None) -> None:
    """Record one session's upload state on its recording (in place); never backwards."""
    uploads = recording.setdefault("uploads", {})
    before = uploads.get(sid)
    if upload_status in _UPLOAD_RANK and _UPLOAD_RANK[upload_status] > _UPLOAD_RANK.get(
        before or "", 0
    ):
        uploads[sid] = upload_status
    recording["upload_status"] = upload_summary(uploads) or recording.get("upload_status")


# ---- decide: pure ------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    kind: str  # "none" | "confirm" | "restart" | "replace" | "query" | "finish"
    reason: str | None = None
    state: str | None = None


NOTHING = Action("none")


def decide(
    recording: dict[str, Any], session: dict[str, Any] | None, at_ms: int, confirm_after_s: int
) -> Action:
    """The next step for an active recording, from its session as callbacks and polls built
    it, judged by the one liveness rule (``workers.agora.liveness``)."""
    if recording["state"] not in (ACTIVE, STOPPING) or recording["sid"] is None:
        return NOTHING
    if session is not None and session["sid"] == recording["sid"]:
        verdict = liveness.judge(
            liveness.evidence(session, now_ms=at_ms, max_idle_time=recording["max_idle_time"])
        )
        wanted = recording["wanted"] and recording["state"] == ACTIVE
        if verdict.liveness is liveness.Liveness.DEAD:
            if wanted and verdict.restart:
                return Action("restart", reason=f"session {verdict.reason}")
            if wanted:
                return Action("finish", reason=f"ended by Agora: {verdict.reason}", state=STOPPED)
            return Action("finish", state=STOPPED)
        if verdict.liveness is liveness.Liveness.UNKNOWN:
            return Action("query", reason=verdict.reason)
        if session["state"] == "recording" and not recording["confirmed"]:
            return Action("confirm")
    started = recording["session_started_ms"]
    if (
        recording["state"] == ACTIVE
        and not recording["confirmed"]
        and started is not None
        and at_ms - started > confirm_after_s * 1000
    ):
        # Agora: not recording 90 s after start means not started; the task is stopped
        # before another one starts (never two live tasks).
        return Action("replace", reason=f"start not confirmed within {confirm_after_s} s")
    return NOTHING


# ---- store -----------------------------------------------------------------------


def load(connection: Redis, recording_id: str) -> dict[str, Any] | None:
    raw = connection.get(keys.recording(recording_id))
    return orjson.loads(raw) if raw else None


def create(connection: Redis, recording: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Store ``recording`` unless the channel already has one that is not finished.

    Returns the channel's recording and whether it is the new one: asking twice starts one.
    """
    active_key = keys.active_recording(recording["cname"])
    with connection.pipeline() as pipe:
        while True:
            try:
                pipe.watch(active_key)  # type: ignore[no-untyped-call]
                existing_id = pipe.get(active_key)
                if existing_id is not None:
                    existing = load(connection, keys.text(existing_id))
                    if existing is not None and existing["state"] not in FINAL:
                        return existing, False
                pipe.multi()
                pipe.set(active_key, recording["id"])
                staged = _write(pipe, None, recording)
                pipe.execute()
                outbox.kick(connection, staged)
                return recording, True
            except WatchError:
                continue


def update(
    connection: Redis, recording_id: str, change: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """Apply ``change`` to the stored recording atomically (retried on conflict)."""
    key = keys.recording(recording_id)
    with connection.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                raw = pipe.get(key)
                if raw is None:
                    raise KeyError(recording_id)
                before = orjson.loads(raw)
                after = orjson.loads(raw)
                change(after)
                after["updated_ms"] = now_ms()
                pipe.multi()
                staged = _write(pipe, before, after)
                if after["state"] in FINAL:
                    pipe.delete(keys.active_recording(after["cname"]))
                pipe.execute()
                outbox.kick(connection, staged)
                return dict(after)
            except WatchError:
                continue


def _write(pipe: Any, before: dict[str, Any] | None, after: dict[str, Any]) -> int:
    """Queue the recording's writes, and its notifications (how many it staged)."""
    staged = outbox.stage_recording(pipe, before, after)
    rid, score = after["id"], after["created_ms"]
    by_cname = keys.recordings_by_cname(after["cname"])
    pipe.set(keys.recording(rid), orjson.dumps(after), ex=RETENTION_S)
    if after["state"] not in FINAL:
        pipe.expire(keys.active_recording(after["cname"]), RETENTION_S)
    pipe.zadd(keys.RECORDINGS_ALL, {rid: score})
    pipe.zadd(by_cname, {rid: score})
    pipe.expire(by_cname, RETENTION_S)
    if before is not None and before["state"] != after["state"]:
        pipe.zrem(keys.recordings_by_state(before["state"]), rid)
    pipe.zadd(keys.recordings_by_state(after["state"]), {rid: score})
    expires_s = int(time.time()) + RETENTION_S
    pipe.zadd(keys.recordings_expiry(), {keys.index_member(rid, after["cname"]): expires_s})
    return staged


def active_for_channel(connection: Redis, cname: str) -> dict[str, Any] | None:
    rid = connection.get(keys.active_recording(cname))
    recording = load(connection, keys.text(rid)) if rid else None
    return recording if recording and recording["state"] not in FINAL else None


def for_sid(connection: Redis, sid: str) -> str | None:
    raw = connection.get(keys.session_link(sid))
    return str(orjson.loads(raw)["recording_id"]) if raw else None


def list_recordings(
    connection: Redis, *, cname: str | None, state: str | None, limit: int
) -> list[dict[str, Any]]:
    if cname is not None:
        index = keys.recordings_by_cname(cname)
    elif state is not None:
        index = keys.recordings_by_state(state)
    else:
        index = keys.RECORDINGS_ALL
    return newest_first(connection, index, keys.recording, state=state, limit=limit)
