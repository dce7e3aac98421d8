"""Read side of sessions: index lookups newest first, and index upkeep."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis import Redis
from rq import get_current_job

from workers import compaction, jobs, keys, periodic, recordings, sessions, transitions
from workers.indexes import newest_first


def list_sessions(
    connection: Redis, *, state: str | None, cname: str | None, limit: int
) -> list[dict[str, Any]]:
    """Sessions newest first, from the narrowest index; expired ones are dropped from it."""
    if cname is not None:
        index = keys.sessions_by_cname(cname)
    elif state is not None:
        index = keys.sessions_by_state(state)
    else:
        index = keys.SESSIONS_ALL
    return newest_first(
        connection, index, keys.session, state=state, limit=limit, decode=compaction.session_of
    )


def get_session(connection: Redis, sid: str) -> dict[str, Any] | None:
    session = sessions.load(connection, sid)
    if session is not None:
        session["files_by_uid"] = transitions.files_by_uid(session)
    return session


def session_events(connection: Redis, sid: str) -> list[dict[str, Any]]:
    """Each distinct event once, in sequence order, as the API shows it."""
    shown = []
    for entry in sessions.timeline(connection, sid):
        if "shown" in entry:  # compacted
            shown.append(entry["shown"])
            continue
        event = entry["event"]
        payload = event.get("payload") or {}
        details = payload.get("details") if isinstance(payload, dict) else None
        shown.append(
            {
                "sequence": payload.get("sequence") if isinstance(payload, dict) else None,
                "eventType": event["eventType"],
                "msgName": details.get("msgName") if isinstance(details, dict) else None,
                "noticeId": event["noticeId"],
                "sendts": payload.get("sendts") if isinstance(payload, dict) else None,
                "received_ms": entry["received_ms"],
                "applied_ms": entry.get("applied_ms"),
                "known": transitions.is_known(event),
                "payload": payload,
            }
        )
    return shown


def sweep_expired_job() -> int:
    """Periodic (queued by workers' upkeep and any `clock`): forget expired sessions and
    recordings in every index, once per slot however many asked."""
    job = get_current_job()
    assert job is not None, "sweep_expired_job runs as an RQ job"
    if not periodic.claim_run(job.connection, jobs.SWEEP_SESSIONS):
        return 0
    return sweep_expired(job.connection)


def sweep_expired(connection: Redis, now_s: float | None = None) -> int:
    """Drop sessions and recordings past their retention from every index. Returns how many
    were dropped."""
    now_s = time.time() if now_s is None else now_s
    session_indexes = _Indexes(
        keys.SESSIONS_EXPIRY,
        keys.session,
        keys.SESSIONS_ALL,
        keys.sessions_by_state,
        keys.sessions_by_cname,
        transitions.STATES,
    )
    recording_indexes = _Indexes(
        keys.recordings_expiry(),
        keys.recording,
        keys.RECORDINGS_ALL,
        keys.recordings_by_state,
        keys.recordings_by_cname,
        recordings.RECORDING_STATES,
    )
    return _sweep(connection, session_indexes, now_s) + _sweep(connection, recording_indexes, now_s)


@dataclass(frozen=True)
class _Indexes:
    expiry: str
    record: Callable[[str], str]
    everything: str
    by_state: Callable[[str], str]
    by_cname: Callable[[str], str]
    states: tuple[str, ...]


def _sweep(connection: Redis, indexes: _Indexes, now_s: float) -> int:
    members = keys.members(connection.zrangebyscore(indexes.expiry, 0, now_s))
    dropped = 0
    for member in members:
        record_id, cname = keys.split_index_member(member)
        if connection.exists(indexes.record(record_id)):
            continue  # still readable (its TTL was renewed): keep it indexed until it goes
        with connection.pipeline(transaction=False) as pipe:
            pipe.zrem(indexes.everything, record_id)
            for state in indexes.states:
                pipe.zrem(indexes.by_state(state), record_id)
            if cname is not None:
                pipe.zrem(indexes.by_cname(cname), record_id)
            pipe.zrem(indexes.expiry, member)
            pipe.execute()
        dropped += 1
    return dropped
