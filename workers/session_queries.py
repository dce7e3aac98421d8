"""Read side of sessions: index lookups newest first, and index upkeep."""

from __future__ import annotations

import time
from typing import Any

import orjson
from redis import Redis
from rq import get_current_job

from workers import keys, sessions, transitions

SCAN_PAGE = 200


def _load_many(connection: Redis, sids: list[str]) -> list[dict[str, Any] | None]:
    if not sids:
        return []
    raws = connection.mget([keys.session(sid) for sid in sids])
    return [orjson.loads(raw) if raw else None for raw in raws]


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
    found: list[dict[str, Any]] = []
    start = 0
    while len(found) < limit:
        sids = keys.members(connection.zrevrange(index, start, start + SCAN_PAGE - 1))
        if not sids:
            break
        for sid, session in zip(sids, _load_many(connection, sids), strict=True):
            if session is None:
                connection.zrem(index, sid)  # expired: the index forgets it
                continue
            if state is not None and session["state"] != state:
                continue
            found.append(session)
            if len(found) == limit:
                break
        start += SCAN_PAGE
    return found


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
