"""The transactional outbox: a notification is written in the same MULTI as the change.

The writer's MULTI block appends the messages its change causes to ``rb:notify:outbox``
(``stage``, ``stage_recording``), so the change and its messages commit together or not at
all. After the commit the writer calls ``kick``: it queues a
delivery job unless a live one is queued or running. A writer that dies between its commit
and its kick delays the message until the next kick or sweep (``delivery.SWEEP_S``); it
never loses it.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from redis import Redis
from redis.client import Pipeline

from workers import keys
from workers.notify.events import Message, next_version, recording_messages, session_messages

# A running delivery job renews the kick flag every ``KICK_RENEW_S``; a flag with less than
# ``KICK_STALE_S`` left was not renewed in time: its job is dead, and a writer kicks anew.
KICK_TTL_S = 3
KICK_RENEW_S = 0.5
KICK_STALE_S = 2


def encode(message_type: str, data: dict[str, Any], at_ms: int) -> bytes:
    """An outbox entry: the message id, the envelope and its creation time."""
    stamp = datetime.fromtimestamp(at_ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")
    return orjson.dumps(
        {
            "id": "msg_" + secrets.token_hex(12),
            "created_ms": at_ms,
            "body": {"type": message_type, "timestamp": stamp, "data": data},
        }
    )


def stage(pipe: Pipeline, notes: list[bytes]) -> int:
    """Inside the writer's MULTI: append the messages; returns how many (for ``kick``)."""
    if notes:
        pipe.rpush(keys.NOTIFY_OUTBOX, *notes)
    return len(notes)


def _encode_all(messages: list[Message]) -> list[bytes]:
    at_ms = int(time.time() * 1000)
    return [encode(t, d, at_ms) for t, d in messages]


def session_notes(
    pipe: Pipeline, version_key: str, before: dict[str, Any] | None, after: dict[str, Any] | None
) -> list[bytes]:
    """Before the MULTI that writes ``after`` (``pipe`` WATCHes ``version_key``, the
    session's commit counter, which that MULTI raises by one): its messages, carrying the
    counter's new value as their ``version``. The counter is not part of the session
    itself, so a session stays the same whatever order its callbacks came in."""
    if after is None or after == before or not session_messages(before, {**after, "version": 0}):
        return []
    version = int(pipe.get(version_key) or 0) + 1
    return _encode_all(session_messages(before, {**after, "version": version}))


def stage_recording(pipe: Pipeline, before: dict[str, Any] | None, after: dict[str, Any]) -> int:
    """Inside the MULTI that writes ``after``: version it and stage what it changed."""
    after["version"] = next_version(before)
    return stage(pipe, _encode_all(recording_messages(before, after)))


def kick(connection: Redis, staged: int) -> None:
    """After the commit: make sure a delivery job will take what was staged."""
    if not staged:
        return
    with connection.pipeline(transaction=False) as pipe:
        pipe.set(keys.NOTIFY_KICK, 1, nx=True, ex=KICK_TTL_S)
        pipe.pttl(keys.NOTIFY_KICK)
        was_set, left_ms = pipe.execute()
    if not was_set and left_ms >= KICK_STALE_S * 1000:
        return  # a live job will see it
    if not was_set:
        connection.set(keys.NOTIFY_KICK, 1, ex=KICK_TTL_S)
    from workers.notify.delivery import enqueue_delivery  # noqa: PLC0415 - import cycle

    enqueue_delivery(connection)
