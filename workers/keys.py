"""Every Redis key recbridge writes, in one place. All live under the ``rb:`` prefix."""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass
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


def sessions_compact() -> str:
    """Final sessions by when their timeline is due to be compacted."""
    return f"{PREFIX}idx:sessions:compact"


def recordings_expiry() -> str:
    return f"{PREFIX}idx:recordings:expiry"


def unrouted_bytes() -> str:
    return f"{PREFIX}unrouted:bytes"


def index_member(record_id: str, cname: str) -> str:
    """An expiry-index member: the record and the cname index it is also listed in."""
    return f"{record_id}\n{cname}"


def split_index_member(member: str) -> tuple[str, str | None]:
    record_id, _, cname = member.partition("\n")
    return record_id, (cname if _ else None)


# -- Redis topology (topology) --
# A write made just before WAIT, so WAIT covers every earlier write (a duplicate's marker
# may have been written by another connection). Expires; rewritten by every check.
REPLICATION_PROBE = f"{PREFIX}replication-probe"


def periodic_claim(name: str) -> str:
    """The last time slot a periodic duty ran in (expires after two slots)."""
    return f"{PREFIX}periodic:{name}"


# ---- notifications (issue 15): owner workers.notify ----
# Every message, fanned out per endpoint; all bounded by NOTIFY_RETENTION_DAYS.
NOTIFY_OUTBOX = f"{PREFIX}notify:outbox"  # staged with the state change; emptied by delivery
NOTIFY_KICK = f"{PREFIX}notify:kick"  # a delivery job is queued or running (expires)
NOTIFY_RUNNER = f"{PREFIX}notify:runner"  # the one delivery job running now (expires)
NOTIFY_ENDPOINTS = f"{PREFIX}notify:endpoints"  # set of endpoint ids
NOTIFY_MESSAGES = f"{PREFIX}notify:messages"  # message id -> created ms, trimmed by age


def notify_endpoint(endpoint_id: str) -> str:
    return f"{PREFIX}notify:endpoint:{endpoint_id}"


def notify_message(message_id: str) -> str:
    return f"{PREFIX}notify:msg:{message_id}"


def notify_due(endpoint_id: str) -> str:
    """Deliveries of one endpoint waiting to be sent: message id -> due ms (or lease end)."""
    return f"{PREFIX}notify:due:{endpoint_id}"


def notify_inflight(endpoint_id: str) -> str:
    """Deliveries being sent: message id -> lease end ms (the per-endpoint concurrency)."""
    return f"{PREFIX}notify:inflight:{endpoint_id}"


def notify_log(endpoint_id: str) -> str:
    """The endpoint's messages: message id -> created ms, trimmed by age."""
    return f"{PREFIX}notify:log:{endpoint_id}"


def notify_delivery(endpoint_id: str, message_id: str) -> str:
    """One message's status and attempts at one endpoint."""
    return f"{PREFIX}notify:dlv:{endpoint_id}:{message_id}"


# ---- the memory budget -------------------------------------------------------------
# Every key recbridge (and RQ, for it) leaves in Redis belongs to one family below, with
# the module that owns it and how it is bounded: EXPIRES (it always carries a TTL) or a
# sentence saying why it cannot grow without bound. tests/test_memory_budget.py checks a
# whole lifecycle plus junk input against this table.

EXPIRES = "expires"


@dataclass(frozen=True)
class Family:
    pattern: str  # a glob, as SCAN MATCH reads it; the first matching family wins
    owner: str
    bound: str


BUDGET: tuple[Family, ...] = (
    Family(f"{PREFIX}notice:*", "workers.inbox", EXPIRES),  # NCS_DEDUPE_TTL_S
    Family(inbox("*"), "workers.inbox", "emptied by its drain; gone when empty"),
    Family(pending("*"), "workers.inbox", "one per stream with events waiting or parked"),
    Family(drain_version("*"), "workers.sessions", EXPIRES),
    Family(unrouted_bytes(), "workers.inbox", "one counter"),
    Family(UNROUTED, "workers.inbox", "capped by count and by bytes (UNROUTED_KEEP/_BYTES)"),
    Family(READY, "workers.drainers", "each waiting stream at most once (its pending flag)"),
    Family(DRAINERS, "workers.drainers", "a lease per live drain job; dead ones removed"),
    Family(draining("*"), "workers.drain", "the streams one drain job holds; emptied after"),
    Family(session_link("*"), "workers.sessions", EXPIRES),
    Family(session("*"), "workers.sessions", EXPIRES),  # retention after the last change
    Family(timeline("*"), "workers.sessions", EXPIRES),
    Family(SESSIONS_EXPIRY, "workers.session_queries", "a member per session, swept"),
    Family(sessions_compact(), "workers.compaction", "a member per final session until compacted"),
    Family(sessions_by_cname("*"), "workers.sessions", EXPIRES),
    Family(sessions_by_state("*"), "workers.sessions", "six keys; members swept"),
    Family(SESSIONS_ALL, "workers.sessions", "a member per session, swept"),
    Family(channel("*"), "workers.channels", EXPIRES),
    Family(rate_limit("*"), "workers.ratelimit", EXPIRES),
    Family(active_recording("*"), "workers.recordings", EXPIRES),
    Family(recording("*"), "workers.recordings", EXPIRES),
    Family(recording_lock("*"), "workers.control", EXPIRES),
    Family(CONTROL_LEASES, "workers.control.leases", "a lease per running control job"),
    Family(control_lease("*"), "workers.control.leases", EXPIRES),
    Family(f"{PREFIX}recorder:*", "workers.control.starting", EXPIRES),  # recorder claims
    Family(recordings_expiry(), "workers.session_queries", "a member per recording, swept"),
    Family(recordings_by_cname("*"), "workers.recordings", EXPIRES),
    Family(recordings_by_state("*"), "workers.recordings", "six keys; members swept"),
    Family(RECORDINGS_ALL, "workers.recordings", "a member per recording, swept"),
    Family(dead_letter("*"), "workers.deadletters", EXPIRES),
    Family(DEAD_LETTERS, "workers.deadletters", EXPIRES),
    Family(READY_PROBE, "webhook.health", EXPIRES),
    Family(REPLICATION_PROBE, "workers.inbox", EXPIRES),
    Family(periodic_claim("*"), "workers.periodic", EXPIRES),  # two slots
    Family(NOTIFY_OUTBOX, "workers.notify", "emptied by every delivery job"),
    Family(NOTIFY_KICK, "workers.notify", EXPIRES),
    Family(NOTIFY_RUNNER, "workers.notify", EXPIRES),
    Family(NOTIFY_ENDPOINTS, "workers.notify", "a member per endpoint the operator keeps"),
    Family(NOTIFY_MESSAGES, "workers.notify", "members older than NOTIFY_RETENTION_DAYS trimmed"),
    Family(notify_endpoint("*"), "workers.notify", "one per endpoint, removed with it"),
    Family(notify_message("*"), "workers.notify", EXPIRES),
    Family(notify_due("*"), "workers.notify", "a member per undelivered message of an endpoint"),
    Family(notify_inflight("*"), "workers.notify", "at most NOTIFY_ENDPOINT_CONCURRENCY claims"),
    Family(notify_log("*"), "workers.notify", "trimmed by age and to 100,000 members"),
    Family(notify_delivery("*", "*"), "workers.notify", EXPIRES),
    # RQ's own keys, for the jobs recbridge queues (result_ttl 1 s or 500 s, failure_ttl set).
    Family("rq:job:*", "rq", "a queued or running job; deleted or given a TTL when done"),
    Family("rq:queue:*", "rq", "jobs waiting; workers take them"),
    Family("rq:queues", "rq", "the queue names"),
    Family("rq:worker:*", "rq", EXPIRES),
    Family("rq:workers*", "rq", "live workers, cleaned by RQ's maintenance"),
    Family("rq:*", "rq", "RQ's registries: entries carry their expiry, cleaned by RQ"),
)


def family_of(name: str) -> Family | None:
    return next((f for f in BUDGET if fnmatch.fnmatchcase(name, f.pattern)), None)


# fidelity: which recording a recorder uid belongs to, set before its start is sent, so a
# task whose start answer was lost (206/65, then 201/7 without a sid) is adopted from its
# callbacks (they carry cname and uid).
def recorder_claim(cname: str, uid: str) -> str:
    return f"{PREFIX}recorder:{_digest(cname)}:{uid}"
