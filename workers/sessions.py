"""Session state in Redis: drained from the inbox, applied atomically, indexed for queries.

Keys (see ``workers.keys``): the session JSON, its timeline (a hash of distinct events by
``sequence:eventType``), and sorted-set indexes by state and cname scored by start time.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson
from redis import Redis, WatchError
from redis.client import Pipeline
from redis.exceptions import NoScriptError

from workers import compaction, keys, transitions
from workers.inbox import decode_entry
from workers.lua import LuaScript
from workers.metrics import APPLY_LATENCY, EVENTS_APPLIED
from workers.notify import outbox

log = logging.getLogger("recbridge.sessions")

BATCH = 500
# Clears the stream's pending flag only when its inbox is empty, inside the drain's
# transaction, so an event that arrives meanwhile always finds either a pending drain or none.
CLEAR_PENDING_IF_EMPTY = """
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
"""
CLEAR_PENDING = LuaScript(CLEAR_PENDING_IF_EMPTY)
# What a drain reads first, in one round trip. KEYS: session, inbox, link. ARGV: batch.
READ_BATCH = LuaScript(
    "return {redis.call('GET', KEYS[1]),"
    " redis.call('LRANGE', KEYS[2], 0, tonumber(ARGV[1]) - 1),"
    " redis.call('GET', KEYS[3])}"
)
# Fields recording control writes; refolding the events must keep them.
LINK_FIELDS = ("resource_id", "recording_id")


def execute_clearing_pending(pipe: Pipeline, connection: Redis, inbox: str, pending: str) -> int:
    """Run a drain's MULTI block with the clear-pending check last; 1 when the inbox was
    empty and the stream's pending flag is gone. A ``WatchError`` propagates."""
    CLEAR_PENDING.queue(pipe, [inbox, pending], [])
    try:
        return int(pipe.execute()[-1])
    except NoScriptError:  # all else was applied; Redis had lost the script
        return int(CLEAR_PENDING.run(connection, [inbox, pending], []))


def load(connection: Redis | Pipeline, sid: str) -> dict[str, Any] | None:
    raw = connection.get(keys.session(sid))
    return compaction.session_of(raw) if raw else None


def timeline(connection: Redis, sid: str) -> list[dict[str, Any]]:
    """The session's distinct events, in sequence order: each the stored entry
    (``received_ms``, ``applied_ms``, ``event``), or, once compacted (``workers.compaction``),
    ``received_ms``, ``applied_ms`` and ``shown``, the event as the API lists it."""
    with connection.pipeline(transaction=False) as pipe:
        pipe.get(keys.session(sid))
        pipe.hgetall(keys.timeline(sid))
        raw_session, entries = pipe.execute()
    merged = compaction.unpack(raw_session)[1] if raw_session else {}
    merged.update((keys.text(k), v) for k, v in entries.items())
    found = []
    for identity, raw in sorted(merged.items()):
        if compaction.is_compact(raw):
            shown = compaction.shown_from_row(identity, raw)
            found.append(
                {
                    "received_ms": shown["received_ms"],
                    "applied_ms": shown["applied_ms"],
                    "shown": shown,
                }
            )
        else:
            found.append(orjson.loads(raw))
    return found


def _next_session(
    pipe: Pipeline,
    sid: str,
    session: dict[str, Any] | None,
    fresh: list[dict[str, Any]],
    packed: bool = False,
) -> dict[str, Any] | None:
    events = [entry["event"] for entry in fresh]
    known = [e for e in events if transitions.counts(e)]
    if not known:
        return session
    if session is None or min(e["payload"]["sequence"] for e in known) > session["last_sequence"]:
        return transitions.fold(known, session)
    # A late event: replay every distinct event in order, keeping what control linked and
    # what REST answers said (files, upload state, a final state).
    stored = pipe.hgetall(keys.timeline(sid))
    if packed or any(compaction.is_compact(raw) for raw in stored.values()):
        # The bodies are gone (workers.compaction): apply it on top, the best left to do.
        log.warning("session.late_after_compaction", extra={"sid": sid, "events": len(known)})
        return transitions.fold(known, session)
    history = [orjson.loads(raw)["event"] for raw in stored.values()]
    refolded = transitions.fold([e for e in history + known if transitions.counts(e)])
    if refolded is None:
        return session
    for name in LINK_FIELDS:
        refolded[name] = session.get(name)
    observed = session.get("observed")
    if observed:
        refolded = transitions.observe_status(refolded, observed["status"], [], observed["at_ms"])
    return transitions.carry_over(refolded, session)


def _unpack_rows(pipe: Pipeline, sid: str, packed: dict[str, bytes], retention_s: int) -> None:
    """A compacted session written again as plain JSON: its rows go back to the timeline."""
    if packed:
        pipe.hset(keys.timeline(sid), mapping=packed)  # type: ignore[arg-type]
        pipe.expire(keys.timeline(sid), retention_s)


def _apply_link(session: dict[str, Any] | None, raw: bytes | None) -> None:
    """Copy what recording control linked before the session's first callback."""
    if session is None or session.get("recording_id"):
        return
    if raw:
        link_fields = orjson.loads(raw)
        for name in LINK_FIELDS:
            session[name] = link_fields.get(name)


def _patch(
    connection: Redis,
    sid: str,
    change: Any,
    retention_s: int,
    extra_writes: Any = None,
) -> dict[str, Any] | None:
    """Change one session outside the drain, as atomically as the drain does."""
    stream = "s:" + sid
    session_key, version_key = keys.session(sid), keys.drain_version(stream)
    with connection.pipeline() as pipe:
        while True:
            try:
                pipe.watch(session_key, version_key)  # type: ignore[no-untyped-call]
                raw = pipe.get(session_key)
                before, packed = compaction.unpack(raw) if raw else (None, {})
                after = change(before)
                notes = outbox.session_notes(pipe, version_key, before, after)
                pipe.multi()
                if extra_writes is not None:
                    extra_writes(pipe)
                staged = outbox.stage(pipe, notes)
                if after is not None and after != before:
                    _unpack_rows(pipe, sid, packed, retention_s)
                    pipe.set(session_key, orjson.dumps(after), ex=retention_s)
                    _write_indexes(pipe, before, after, retention_s)
                pipe.incr(version_key)
                pipe.expire(version_key, retention_s)
                pipe.execute()
                outbox.kick(connection, staged)
                return dict(after) if after is not None else None
            except WatchError:
                continue


def link(
    connection: Redis, sid: str, recording_id: str, resource_id: str, retention_s: int
) -> None:
    """Tie a session to the recording that started it (before or after its callbacks)."""
    fields = {"recording_id": recording_id, "resource_id": resource_id}

    def change(session: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if session is None else {**session, **fields}

    def write_link(pipe: Pipeline) -> None:
        pipe.set(keys.session_link(sid), orjson.dumps(fields), ex=retention_s)

    _patch(connection, sid, change, retention_s, write_link)


def observe_query(
    connection: Redis,
    sid: str,
    *,
    cname: str,
    recorder_uid: str,
    status: int,
    files: list[dict[str, Any]],
    retention_s: int,
    upload_status: str | None = None,
) -> dict[str, Any] | None:
    """Fold a REST answer (``query``, or ``stop`` as status 8) into the session, creating it
    if no callback came yet."""
    at_ms = int(time.time() * 1000)

    def change(session: dict[str, Any] | None) -> dict[str, Any]:
        base = session or transitions.new_session(sid, cname, recorder_uid)
        if session is None:
            raw = connection.get(keys.session_link(sid))
            if raw:
                base.update(orjson.loads(raw))
        return transitions.observe_status(base, status, files, at_ms, upload_status)

    return _patch(connection, sid, change, retention_s)


def settle(
    connection: Redis, sid: str, *, state: str, reason: str, retention_s: int
) -> dict[str, Any] | None:
    """End a session recording control judged over (``workers.agora.liveness``): a task
    Agora no longer knows is never left ``recording``. A final session stays as it was."""
    at_ms = int(time.time() * 1000)

    def change(session: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if session is None else transitions.settle(session, state, reason, at_ms)

    return _patch(connection, sid, change, retention_s)


def _write_indexes(
    pipe: Pipeline, before: dict[str, Any] | None, after: dict[str, Any], retention_s: int
) -> None:
    sid = after["sid"]
    score = after["started_ms"] or after["updated_ms"]
    by_cname = keys.sessions_by_cname(after["cname"])
    pipe.zadd(keys.SESSIONS_ALL, {sid: score})
    pipe.zadd(by_cname, {sid: score})
    pipe.expire(by_cname, retention_s)  # outlives none of its sessions
    if before is not None and before["state"] != after["state"]:
        pipe.zrem(keys.sessions_by_state(before["state"]), sid)
    pipe.zadd(keys.sessions_by_state(after["state"]), {sid: score})
    # When the session's key expires (every write restarts its retention), the hourly sweep
    # takes it out of every index.
    member = keys.index_member(sid, after["cname"])
    pipe.zadd(keys.SESSIONS_EXPIRY, {member: int(time.time()) + retention_s})
    compaction.schedule(pipe, sid, after["state"])


def _observe(entries: list[dict[str, Any]], fresh: int) -> None:
    now_ms = time.time() * 1000
    for entry in entries:
        APPLY_LATENCY.observe(max(0.0, now_ms - entry["received_ms"]) / 1000)
    EVENTS_APPLIED.labels("new").inc(fresh)
    EVENTS_APPLIED.labels("copy").inc(len(entries) - fresh)


@dataclass(frozen=True)
class Drained:
    taken: int  # inbox entries taken
    state_before: str | None  # the session's state before this drain
    session: dict[str, Any] | None  # the session after it
    upload_before: str | None = None
    fatal_before: int = 0  # errors of level 5 before this drain

    @property
    def news_for_control(self) -> bool:
        """Whether recording control should look: the state, the upload state or a fatal
        error (Agora: "call query") changed."""
        after = self.session
        if after is None:
            return False
        return (
            after["state"] != self.state_before
            or after.get("upload_status") != self.upload_before
            or fatal_errors(after) > self.fatal_before
        )


def fatal_errors(session: dict[str, Any] | None) -> int:
    if session is None:
        return 0
    return sum(1 for e in session.get("errors") or [] if e.get("level") == transitions.FATAL_LEVEL)


def drain_session(connection: Redis, sid: str, *, retention_s: int) -> Drained:
    """Apply everything in the session's inbox."""
    stream = "s:" + sid
    inbox, pending = keys.inbox(stream), keys.pending(stream)
    session_key, timeline_key = keys.session(sid), keys.timeline(sid)
    # Every commit bumps the version, so of two drains that read the same batch only one
    # commits; the other re-reads.
    version_key = keys.drain_version(stream)
    link_key = keys.session_link(sid)
    taken, first_read = 0, True
    state_before: str | None = None
    upload_before: str | None = None
    fatal_before = 0
    with connection.pipeline() as pipe:
        while True:
            try:
                pipe.watch(session_key, version_key)  # type: ignore[no-untyped-call]
                raw_session, raw_entries, raw_link = READ_BATCH.run(
                    pipe, [session_key, inbox, link_key], [BATCH]
                )
                before, packed = compaction.unpack(raw_session) if raw_session else (None, {})
                if first_read:
                    state_before, first_read = (before["state"] if before else None), False
                    upload_before = before.get("upload_status") if before else None
                    fatal_before = fatal_errors(before)
                entries = [decode_entry(raw) for raw in raw_entries]
                by_identity: dict[str, dict[str, Any]] = {}
                for entry in entries:
                    by_identity.setdefault(transitions.event_identity(entry["event"]), entry)
                identities = list(by_identity)
                already = pipe.hmget(timeline_key, identities) if identities else []
                fresh = {
                    i: by_identity[i]
                    for i, seen in zip(identities, already, strict=True)
                    if seen is None and i not in packed
                }
                after = _next_session(pipe, sid, before, list(fresh.values()), bool(packed))
                if before is None:
                    _apply_link(after, raw_link)
                notes = outbox.session_notes(pipe, version_key, before, after)
                pipe.multi()
                staged = outbox.stage(pipe, notes)
                if fresh:
                    applied_ms = int(time.time() * 1000)
                    pipe.hset(
                        timeline_key,
                        mapping={
                            i: orjson.dumps({**e, "applied_ms": applied_ms})
                            for i, e in fresh.items()
                        },
                    )
                    # Also for a sid seen only in unknown event types (no session at all).
                    pipe.expire(timeline_key, retention_s)
                if after is not None and after != before:
                    _unpack_rows(pipe, sid, packed, retention_s)
                    # Live sessions expire too: retention counts from the last change, so a
                    # session that never reaches a final state does not stay forever.
                    pipe.set(session_key, orjson.dumps(after), ex=retention_s)
                    pipe.expire(timeline_key, retention_s)
                    _write_indexes(pipe, before, after, retention_s)
                pipe.incr(version_key)
                pipe.expire(version_key, retention_s)
                if raw_entries:
                    pipe.ltrim(inbox, len(raw_entries), -1)
                emptied = execute_clearing_pending(pipe, connection, inbox, pending)
            except WatchError:
                continue
            outbox.kick(connection, staged)
            taken += len(raw_entries)
            _observe(entries, len(fresh))
            log.info(
                "session.drained",
                extra={
                    "sid": sid,
                    "cname": (after or {}).get("cname"),
                    "events": len(entries),
                    "new": len(fresh),
                    "state": (after or {}).get("state"),
                },
            )
            if emptied == 1:
                return Drained(taken, state_before, after, upload_before, fatal_before)
