"""Recording requests: what the API, the CLI and the public job refuse before storing."""

from __future__ import annotations

from typing import Any

from redis import Redis

from config.settings import Settings
from workers import recordings
from workers.agora.bodies import InvalidRequest, subscribe_uid_group


def check_request(cname: str, uids: list[str] | None, max_idle_time: int) -> None:
    """What the API and the public job refuse before anything is stored."""
    if not isinstance(cname, str) or not 0 < len(cname.encode()) < 64:
        raise InvalidRequest("cname must be 1 to 63 bytes")
    if uids is not None:
        if not all(isinstance(u, str) and u.isdigit() and 0 < int(u) < 2**32 for u in uids):
            raise InvalidRequest("uids must be decimal strings of 32-bit integers")
        subscribe_uid_group(len(uids))
        if len(uids) > 32:
            raise InvalidRequest("at most 32 uids can be listed")
    if not 5 <= max_idle_time <= 2_592_000:
        raise InvalidRequest("max_idle_time must be 5 to 2592000 seconds")


def request_recording(
    connection: Redis,
    settings: Settings,
    cname: str,
    uids: list[str] | None,
    max_idle_time: int | None,
    source: str,
) -> tuple[dict[str, Any], bool]:
    """Store a recording request (or find the channel's current one)."""
    idle = max_idle_time or settings.recording_max_idle_time
    check_request(cname, uids, idle)
    return recordings.create(connection, recordings.new_recording(cname, uids, idle, source))
