"""RTC channel events (productId 1): who is in each channel, newest ``clientSeq`` wins."""

from __future__ import annotations

import copy
import logging
from typing import Any

import orjson
from redis import Redis, WatchError

from workers import keys
from workers.inbox import decode_entry
from workers.sessions import BATCH, execute_clearing_pending

log = logging.getLogger("recbridge.channels")

CHANNEL_TTL_S = 7 * 24 * 3600
JOIN_ROLE = {103: "broadcaster", 105: "audience", 107: "user", 111: "broadcaster", 112: "audience"}
LEAVE_EVENTS = frozenset({104, 106, 108})
RECORDER_PLATFORM, RECORDER_CLIENT_TYPE = 6, 10


def new_channel(name: str) -> dict[str, Any]:
    return {"channel": name, "alive": False, "users": {}, "last_ts": 0}


def apply_channel_event(
    channel: dict[str, Any], event: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """The channel after ``event``, and whether it applied: stale events (an older ``ts`` for
    create/destroy, a ``clientSeq`` not above the user's last) change nothing."""
    channel = copy.deepcopy(channel)
    payload, event_type = event["payload"], event["eventType"]
    ts = payload.get("ts", 0)
    if event_type in (101, 102):
        if ts < channel["last_ts"]:
            return channel, False
        channel["alive"] = event_type == 101
        channel["last_ts"] = ts
        if event_type == 102:
            channel["users"] = {uid: {**u, "present": False} for uid, u in channel["users"].items()}
        return channel, True
    uid = str(payload["uid"])
    user = channel["users"].get(uid)
    if user is not None and payload["clientSeq"] <= user["client_seq"]:
        return channel, False
    user = dict(user or {})
    user["client_seq"] = payload["clientSeq"]
    user["platform"] = payload.get("platform", user.get("platform"))
    user["client_type"] = payload.get("clientType", user.get("client_type"))
    user["present"] = event_type not in LEAVE_EVENTS
    if event_type in JOIN_ROLE:
        user["role"] = JOIN_ROLE[event_type]
    channel["users"][uid] = user
    channel["alive"] = channel["alive"] or user["present"]
    channel["last_ts"] = max(channel["last_ts"], ts)
    return channel, True


def is_recorder(payload: dict[str, Any], recorder_uids: set[str]) -> bool:
    """The cloud recorder's own joins must never trigger a recording (no loops)."""
    if payload.get("platform") == RECORDER_PLATFORM and payload.get("clientType") == (
        RECORDER_CLIENT_TYPE
    ):
        return True
    return str(payload.get("uid")) in recorder_uids


def humans(channel: dict[str, Any], recorder_uids: set[str]) -> set[str]:
    """The uids present in the channel that are people, not a cloud recorder: recognised by
    the uids recbridge gave its recorders (the recorder's 107 carries no ``clientType``) or
    by platform 6 with clientType 10 where an event says so."""
    return {
        uid
        for uid, user in channel["users"].items()
        if user.get("present")
        and uid not in recorder_uids
        and not (
            user.get("platform") == RECORDER_PLATFORM
            and user.get("client_type") == RECORDER_CLIENT_TYPE
        )
    }


def load_channel(connection: Redis, name: str) -> dict[str, Any]:
    raw = connection.get(keys.channel(name))
    return orjson.loads(raw) if raw else new_channel(name)


def channel_uids(connection: Redis, name: str) -> set[str]:
    """Every uid seen in the channel: a new recorder uid must differ from all of them."""
    raw = connection.get(keys.channel(name))
    return set(orjson.loads(raw)["users"]) if raw else set()


def drain_channel(connection: Redis, name: str) -> list[dict[str, Any]]:
    """Apply the channel's inbox; returns the events that applied (for recording control)."""
    stream = "c:" + name
    inbox, pending, channel_key = keys.inbox(stream), keys.pending(stream), keys.channel(name)
    applied: list[dict[str, Any]] = []
    with connection.pipeline() as pipe:
        while True:
            try:
                pipe.watch(channel_key)  # type: ignore[no-untyped-call]
                raw = pipe.get(channel_key)
                channel = orjson.loads(raw) if raw else new_channel(name)
                raw_entries = pipe.lrange(inbox, 0, BATCH - 1)
                events = []
                for raw_entry in raw_entries:
                    event = decode_entry(raw_entry)["event"]
                    channel, fresh = apply_channel_event(channel, event)
                    if fresh:
                        events.append(event)
                pipe.multi()
                pipe.set(channel_key, orjson.dumps(channel), ex=CHANNEL_TTL_S)
                if raw_entries:
                    pipe.ltrim(inbox, len(raw_entries), -1)
                emptied = execute_clearing_pending(pipe, connection, inbox, pending)
            except WatchError:
                continue
            applied.extend(events)
            log.info("channel.drained", extra={"cname": name, "events": len(events)})
            if emptied == 1:
                return applied
