"""Starting a recording: a new recorder uid, acquire and start, and restarts.

A start records its acquired resource and uid (``pending_start``) before it calls ``start``.
A start resumed after its worker died (``workers.control.leases``) first adopts the session
the dead one may have begun: one whose callbacks carry the recording's cname and that uid,
or the ``sid`` Agora gives for the same resource again (``start`` once more: it starts the
session if the first never arrived, or answers 201/7 if it did). So a recording never has
two live Agora sessions of its own.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

import orjson
from redis import Redis

from config.settings import Settings
from workers import jobs, keys, recordings, runtime, sessions
from workers.agora.answers import AgoraError
from workers.agora.client import AgoraClient
from workers.agora.tokens import recorder_token
from workers.channels import channel_uids
from workers.control import leases, tasks
from workers.control.calls import LOCK_TTL_S, Budget, call
from workers.control.context import log_recording
from workers.control.policy import Next, Step, rule
from workers.control.scheduling import FIRST_POLL_S, schedule_poll
from workers.metrics import RESTARTS
from workers.queues import job_policy
from workers.recordings import ACTIVE, FAILED, REQUESTED, STARTING

START_ATTEMPTS = 3  # new uid + acquire + start, each after the previous failed for good
ADOPT_WAIT_S = 10.0  # how long a resumed start waits for the callbacks of a 201/7 session
log = logging.getLogger("recbridge.control")


def restart(
    connection: Redis, settings: Settings, recording: dict[str, Any], reason: str, budget: Budget
) -> None:
    if recording["restarts"] >= settings.recording_max_restarts:
        failed = recordings.update(
            connection,
            recording["id"],
            lambda r: r.update(
                state=FAILED, error=f"gave up after {r['restarts']} restarts: {reason}"
            ),
        )
        log_recording("recording.gave_up", failed, reason=reason)
        return

    def mark(r: dict[str, Any]) -> None:
        r["restarts"] += 1
        r["restart_reasons"].append(reason)
        r.update(state=STARTING, confirmed=False, not_found=0)

    restarted = recordings.update(connection, recording["id"], mark)
    RESTARTS.labels(reason.split(" ", maxsplit=1)[0] if reason else "unknown").inc()
    log_recording("recording.restarting", restarted, reason=reason, restarts=restarted["restarts"])
    start(connection, settings, recording["id"], budget, restarting=True)


def start(
    connection: Redis,
    settings: Settings,
    recording_id: str,
    budget: Budget,
    *,
    restarting: bool = False,
) -> None:
    """Start ``recording_id`` unless it is not wanted or already past starting.

    Raises ``BudgetSpent`` (the recording stays ``starting``) when the job's budget cannot
    hold another attempt; the start job's RQ retry then runs it again.
    """
    lock = connection.lock(
        keys.recording_lock(recording_id),
        timeout=LOCK_TTL_S,
        blocking_timeout=max(budget.remaining_s(), 0.1),
        thread_local=False,  # the lease's heartbeat thread extends it
    )
    with lock:
        leases.hold(lock)
        try:
            _start_locked(connection, settings, recording_id, budget, restarting)
        finally:
            leases.release(lock)


def _start_locked(
    connection: Redis, settings: Settings, recording_id: str, budget: Budget, restarting: bool
) -> None:
    recording = recordings.load(connection, recording_id)
    if recording is None or not recording["wanted"]:
        return
    if recording["state"] not in (REQUESTED, STARTING):
        return
    if recording["state"] == REQUESTED:
        recording = recordings.update(connection, recording_id, lambda r: r.update(state=STARTING))
    log_recording("recording.starting", recording, restarting=restarting)
    client = runtime.agora_client(connection)
    if recording.get("pending_start") and _adopt(connection, settings, client, recording, budget):
        return
    cname = recording["cname"]
    avoid = channel_uids(connection, cname) | set(recording["recorder_uids"])
    avoid |= set(recording["uids"] or [])
    last_error: AgoraError | None = None
    for _ in range(START_ATTEMPTS):
        uid = recordings.new_recorder_uid(avoid)
        avoid.add(uid)
        try:
            resource_id, sid = _acquire_and_start(
                connection, client, settings, recording, uid, budget
            )
        except AgoraError as exc:
            last_error = exc
            log_recording("recording.start_failed", recording, error=str(exc))
            if _seen(connection, recording_id, uid):
                # Its callbacks came: the start went through after all. Adopt it.
                _adopt_started(connection, settings, recording_id, uid, exc_resource(exc))
                return
            if _after(exc) is Next.FAIL:
                break
            continue  # Next.RESTART: a new uid, acquire and start
        if sid is None:
            # 201/7 "already started" without a sid: the task runs. Adopt it when its
            # callbacks name it (cname + uid); never acquire and start another.
            _adopt_started(connection, settings, recording_id, uid, resource_id)
            return
        _activate(connection, settings, recording_id, sid, resource_id, uid)
        return
    failed = recordings.update(
        connection, recording_id, lambda r: r.update(state=FAILED, error=str(last_error))
    )
    log_recording("recording.failed", failed, error=str(last_error))


def _activate(
    connection: Redis,
    settings: Settings,
    recording_id: str,
    sid: str,
    resource_id: str,
    uid: str,
    *,
    adopted: bool = False,
) -> None:
    active = recordings.update(
        connection,
        recording_id,
        functools.partial(_became_active, sid=sid, resource_id=resource_id, uid=uid),
    )
    sessions.link(connection, sid, recording_id, resource_id, settings.session_retention_s)
    log_recording(
        "recording.adopted" if adopted else "recording.active",
        active,
        resource_id_len=len(resource_id),
        recorder_uid=uid,
    )
    schedule_poll(connection, settings, active, FIRST_POLL_S * settings.agora_retry_scale)
    tasks.retire_others(connection, settings, active)


def session_by_recorder(connection: Redis, cname: str, uid: str) -> str | None:
    """The sid of a live session the callbacks built for ``cname`` with recorder ``uid``."""
    for raw in connection.zrevrange(keys.sessions_by_cname(cname), 0, 49):
        session = sessions.load(connection, keys.text(raw))
        if (
            session is not None
            and uid in (session.get("recorder_uids") or [session.get("recorder_uid")])
            and session["state"] not in ("exited", "failed")
        ):
            return str(session["sid"])
    return None


def _adopt(
    connection: Redis,
    settings: Settings,
    client: AgoraClient,
    recording: dict[str, Any],
    budget: Budget,
) -> bool:
    """Take over the session a start that died may have begun; False when there is none."""
    pending = recording["pending_start"]
    uid, resource_id, cname = pending["uid"], pending["resource_id"], recording["cname"]
    sid = session_by_recorder(connection, cname, uid)
    if sid is None:
        try:
            sid = _send_start(client, settings, recording, resource_id, uid, budget)
        except AgoraError:
            return False  # the first start never took: start afresh
        if sid is None:
            sid = _wait_for_callbacks(connection, cname, uid, budget)
    if sid is None:
        log_recording("recording.orphan_suspected", recording, recorder_uid=uid)
        return False
    _activate(connection, settings, recording["id"], str(sid), resource_id, uid, adopted=True)
    return True


def _wait_for_callbacks(connection: Redis, cname: str, uid: str, budget: Budget) -> str | None:
    """201/7 without a sid: the session runs; its callbacks will name it."""
    deadline = time.monotonic() + min(ADOPT_WAIT_S, budget.remaining_s())
    while time.monotonic() < deadline:
        sid = session_by_recorder(connection, cname, uid)
        if sid is not None:
            return sid
        time.sleep(0.2)
    return None


def rollover(connection: Redis, settings: Settings, recording_id: str, budget: Budget) -> None:
    """A planned rollover before the recorder's token or the resource expires: a new task
    with a new uid starts while the old one still records (no second of audio missed),
    then the old one is retired. Both sids stay on the recording."""
    with connection.lock(
        keys.recording_lock(recording_id),
        timeout=LOCK_TTL_S,
        blocking_timeout=max(budget.remaining_s(), 0.1),
    ):
        recording = recordings.load(connection, recording_id)
        if recording is None or recording["state"] != ACTIVE or not recording["wanted"]:
            return
        old = recording["sid"]
        if old is None or recording.get("adopting"):
            return
        avoid = channel_uids(connection, recording["cname"]) | set(recording["recorder_uids"])
        avoid |= set(recording["uids"] or [])
        uid = recordings.new_recorder_uid(avoid)
        client = runtime.agora_client(connection)
        try:
            resource_id, sid = _acquire_and_start(
                connection, client, settings, recording, uid, budget
            )
        except AgoraError as exc:
            log_recording("recording.rollover_failed", recording, error=str(exc))
            return  # the old task still records; the next poll tries again
        if sid is None:
            latest = recordings.load(connection, recording_id) or recording
            seen = [t for t, v in (latest.get("tasks") or {}).items() if v["uid"] == uid]
            sid = seen[0] if seen else None
        if sid is None:
            adopting = recordings.update(
                connection,
                recording_id,
                lambda r: r.update(
                    adopting={
                        "uid": uid,
                        "resource_id": resource_id,
                        "since_ms": recordings.now_ms(),
                    }
                ),
            )
            log_recording("recording.rollover_adopting", adopting, recorder_uid=uid)
            return

        def rolled(r: dict[str, Any]) -> None:
            _became_active(r, sid=sid, resource_id=resource_id, uid=uid)
            r["sids"] = list(dict.fromkeys(r["sids"]))
            r["rollovers"] = r.get("rollovers", 0) + 1

        active = recordings.update(connection, recording_id, rolled)
        sessions.link(connection, sid, recording_id, resource_id, settings.session_retention_s)
        log_recording("recording.rolled_over", active, previous_sid=old, recorder_uid=uid)
        schedule_poll(connection, settings, active, FIRST_POLL_S * settings.agora_retry_scale)
        jobs.enqueue(connection, job_policy(settings), jobs.RETIRE_TASK, recording_id, old, 0)


def claim(
    connection: Redis,
    settings: Settings,
    recording_id: str,
    cname: str,
    uid: str,
    resource_id: str | None,
) -> None:
    """Say which recording a recorder uid belongs to before its start is sent."""
    connection.set(
        keys.recorder_claim(cname, uid),
        orjson.dumps({"recording_id": recording_id, "resource_id": resource_id}),
        ex=settings.session_retention_s,
    )


def exc_resource(exc: AgoraError) -> str | None:
    resource = exc.body.get("resourceId")
    return resource if isinstance(resource, str) else None


def _seen(connection: Redis, recording_id: str, uid: str) -> bool:
    recording = recordings.load(connection, recording_id) or {}
    return any(t["uid"] == uid for t in (recording.get("tasks") or {}).values())


def _adopt_started(
    connection: Redis, settings: Settings, recording_id: str, uid: str, resource_id: str | None
) -> None:
    """Agora runs a task under ``uid`` whose sid the start answer did not give."""
    adopting = recordings.update(
        connection, recording_id, functools.partial(_adopting, resource_id=resource_id, uid=uid)
    )
    log_recording("recording.adopting", adopting, recorder_uid=uid)
    if adopting["sid"] is not None:  # its callbacks came first: adopted already
        schedule_poll(connection, settings, adopting, FIRST_POLL_S * settings.agora_retry_scale)
        jobs.enqueue(
            connection, job_policy(settings), jobs.RECONCILE, recording_id, adopting["sid"]
        )


def _adopting(r: dict[str, Any], resource_id: str | None, uid: str) -> None:
    seen = [sid for sid, t in (r.get("tasks") or {}).items() if t["uid"] == uid]
    if seen:  # the drain linked its session while this start still waited for an answer
        task = r["tasks"][seen[0]]
        _became_active(r, sid=seen[0], resource_id=task["resource_id"], uid=uid)
        r["sids"] = list(dict.fromkeys(r["sids"]))
        return
    r.update(
        state=ACTIVE,
        sid=None,
        resource_id=resource_id,
        recorder_uid=uid,
        confirmed=False,
        session_started_ms=recordings.now_ms(),
        not_found=0,
        error=None,
        adopting={"uid": uid, "resource_id": resource_id, "since_ms": recordings.now_ms()},
    )
    r["resource_ids"].append(resource_id)
    r["recorder_uids"].append(uid)


def _after(exc: AgoraError) -> Next:
    step = Step.START if exc.endpoint == "start" else Step.ACQUIRE
    return rule(step, exc.verdict.meaning).then


def _acquire_and_start(
    connection: Redis,
    client: AgoraClient,
    settings: Settings,
    recording: dict[str, Any],
    uid: str,
    budget: Budget,
) -> tuple[str, str | None]:
    cname = recording["cname"]
    resource_id = call(
        Step.ACQUIRE,
        lambda: client.acquire(cname, uid, recording["resource_ids"]),
        budget,
        settings,
    )
    pending = {"uid": uid, "resource_id": resource_id, "at_ms": recordings.now_ms()}
    recordings.update(connection, recording["id"], lambda r: r.update(pending_start=pending))
    claim(connection, settings, recording["id"], cname, uid, resource_id)
    return resource_id, _send_start(client, settings, recording, resource_id, uid, budget)


def _send_start(
    client: AgoraClient,
    settings: Settings,
    recording: dict[str, Any],
    resource_id: str,
    uid: str,
    budget: Budget,
) -> str | None:
    """Agora's ``start`` of the recorder ``uid`` on ``resource_id``: the task's sid, or None
    for 201/7 "already started" without one (a retried start whose first attempt had in fact
    succeeded; the caller adopts the task from its callbacks). Other refusals raise."""
    cname = recording["cname"]
    token = recorder_token(settings, cname, uid)
    try:
        answer = call(
            Step.START,
            lambda: client.start(
                resource_id, cname, uid, recording["uids"], recording["max_idle_time"], token
            ),
            budget,
            settings,
        )
    except AgoraError as exc:
        if _after(exc) is not Next.ACCEPT:
            raise
        sid = exc.body.get("sid")
        return str(sid) if isinstance(sid, str) and sid else None
    return str(answer["sid"])


def _became_active(r: dict[str, Any], sid: str, resource_id: str, uid: str) -> None:
    r.update(
        state=ACTIVE,
        sid=sid,
        resource_id=resource_id,
        recorder_uid=uid,
        confirmed=False,
        session_started_ms=recordings.now_ms(),
        not_found=0,
        error=None,
        pending_start=None,
        adopting=None,
    )
    if sid not in r["sids"]:
        r["sids"].append(sid)
    r["resource_ids"].append(resource_id)
    r["recorder_uids"].append(uid)
    r.setdefault("tasks", {})[sid] = {"resource_id": resource_id, "uid": uid}
