"""Read side of sessions: index lookups newest first, and index upkeep."""

from __future__ import annotations

import time
from typing import Any

from redis import Redis
from rq import get_current_job

from workers import keys, sessions, transitions
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
    return newest_first(connection, index, keys.session, state=state, limit=limit)


def get_session(connection: Redis, sid: str) -> dict[str, Any] | None:
    session = sessions.load(connection, sid)
    if session is not None:
        session["files_by_uid"] = transitions.files_by_uid(session)
    return session


def session_events(connection: Redis, sid: str) -> list[dict[str, Any]]:
    """Each distinct event once, in sequence order, as the API shows it."""
    shown = []
    for entry in sessions.timeline(connection, sid):
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
    """Periodic (the `clock` process): forget expired sessions in every index."""
    job = get_current_job()
    assert job is not None, "sweep_expired_job runs as an RQ job"
    return sweep_expired(job.connection)


def sweep_expired(connection: Redis, now_s: float | None = None) -> int:
    """Drop sessions past their retention from every index. Returns how many were dropped."""
    now_s = time.time() if now_s is None else now_s
    expired = keys.members(connection.zrangebyscore(keys.SESSIONS_EXPIRY, 0, now_s))
    for sid in expired:
        session = sessions.load(connection, sid)
        if session is not None:
            continue  # still readable (written again after it ended): keep indexed
        with connection.pipeline(transaction=False) as pipe:
            pipe.zrem(keys.SESSIONS_ALL, sid)
            for state in transitions.STATES:
                pipe.zrem(keys.sessions_by_state(state), sid)
            pipe.zrem(keys.SESSIONS_EXPIRY, sid)
            pipe.execute()
    return len(expired)
