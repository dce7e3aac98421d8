"""Every Redis key recbridge writes, in one place. All live under the ``rb:`` prefix."""

from __future__ import annotations

import hashlib
from typing import Any

PREFIX = "rb:"


def text(value: Any) -> str:
    """A Redis reply (bytes) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def members(reply: Any) -> list[str]:
    """A Redis list or set reply as text."""
    return [text(m) for m in reply]


def _digest(text: str) -> str:
    # Agora's ids may hold ':' and arbitrary text; a digest keeps keys and job ids tidy.
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def notice_marker(notice_id: str) -> str:
    return f"{PREFIX}notice:{_digest(notice_id)}"


def inbox(stream: str) -> str:
    return f"{PREFIX}inbox:{stream}"


def pending(stream: str) -> str:
    return f"{PREFIX}pending:{stream}"


def drain_version(stream: str) -> str:
    return f"{PREFIX}drainver:{stream}"


def stream_digest(stream: str) -> str:
    return _digest(stream)


UNROUTED = f"{PREFIX}unrouted"
READY = f"{PREFIX}ready"  # streams with events and no drain on them yet
DRAINERS = f"{PREFIX}drainers"  # drain jobs queued or running


def draining(job_id: str) -> str:
    return f"{PREFIX}draining:{job_id}"


def session(sid: str) -> str:
    return f"{PREFIX}session:{sid}"


def session_link(sid: str) -> str:
    return f"{PREFIX}session:link:{sid}"


def timeline(sid: str) -> str:
    return f"{PREFIX}timeline:{sid}"


SESSIONS_ALL = f"{PREFIX}idx:sessions"
SESSIONS_EXPIRY = f"{PREFIX}idx:sessions:expiry"


def sessions_by_state(state: str) -> str:
    return f"{PREFIX}idx:sessions:state:{state}"


def sessions_by_cname(cname: str) -> str:
    return f"{PREFIX}idx:sessions:cname:{cname}"


def channel(name: str) -> str:
    return f"{PREFIX}channel:{name}"


def rate_limit(app_id: str) -> str:
    return f"{PREFIX}ratelimit:{app_id}"


def recording(recording_id: str) -> str:
    return f"{PREFIX}recording:{recording_id}"


def active_recording(cname: str) -> str:
    return f"{PREFIX}recording:active:{cname}"


def recording_lock(recording_id: str) -> str:
    return f"{PREFIX}lock:recording:{recording_id}"


# ---- control-job leases (owner: workers/control/leases.py) ----
# job id -> lease expiry (ms, Redis's clock); bounded: one per running control job, removed
# when it ends or when a dead one is resumed.
CONTROL_LEASES = f"{PREFIX}control:leases"


def control_lease(job_id: str) -> str:
    """What a leased job runs (to queue it again); expires after a day at the latest."""
    return f"{PREFIX}control:lease:{job_id}"


RECORDINGS_ALL = f"{PREFIX}idx:recordings"


def recordings_by_state(state: str) -> str:
    return f"{PREFIX}idx:recordings:state:{state}"


def recordings_by_cname(cname: str) -> str:
    return f"{PREFIX}idx:recordings:cname:{cname}"


DEAD_LETTERS = f"{PREFIX}deadletters"


def dead_letter(letter_id: str) -> str:
    return f"{PREFIX}deadletter:{letter_id}"


READY_PROBE = f"{PREFIX}readyz"
