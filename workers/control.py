"""Recording control jobs: start, poll, reconcile, restart and stop recordings.

Public jobs other services may enqueue with plain arguments (both safe to enqueue twice):
``workers.control.start_recording(cname, uids=None, max_idle_time=None)`` and
``workers.control.stop_recording(recording_id)``.
"""

from __future__ import annotations

import functools
import logging
import secrets
from datetime import timedelta
from typing import Any

from redis import Redis
from rq import get_current_job

from config.settings import Settings
from workers import keys, recordings, runtime, sessions
from workers.agora import retrying
from workers.agora.answers import FAILOVER_SCHEDULE_S, AgoraError, Meaning
from workers.agora.bodies import InvalidRequest, subscribe_uid_group
from workers.agora.client import AgoraClient
from workers.agora.tokens import recorder_token
from workers.channels import channel_uids
from workers.metrics import RESTARTS
from workers.queues import CONTROL_TIMEOUT_S, control_queue, job_policy
from workers.recordings import ACTIVE, FAILED, REQUESTED, STARTING, STOPPED, STOPPING

log = logging.getLogger("recbridge.control")

START_ATTEMPTS = 3  # new uid + acquire + start, each after the previous failed for good
FIRST_POLL_S = 5
STATUS_EXITED = 8  # a successful synchronous stop: the recorder left and uploaded
UNCONFIRMED_POLL_S = 15


def _context() -> tuple[Redis, Settings]:
    job = get_current_job()
    assert job is not None, "control functions run as RQ jobs"
    return job.connection, runtime.settings()


def _log(event: str, recording: dict[str, Any], **extra: Any) -> None:
    log.info(
        event,
        extra={
            "recording_id": recording["id"],
            "cname": recording["cname"],
            "sid": recording["sid"],
            "state": recording["state"],
            **extra,
        },
    )


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


# ---- public jobs -------------------------------------------------------------------


def start_recording(
    cname: str, uids: list[str] | None = None, max_idle_time: int | None = None
) -> str:
    """Keep ``cname`` recorded; returns the recording id. Enqueuing twice starts one."""
    connection, settings = _context()
    recording, _ = request_recording(connection, settings, cname, uids, max_idle_time, "job")
    if recording["state"] == REQUESTED:
        _start(connection, settings, recording["id"])
    return str(recording["id"])


def stop_recording(recording_id: str) -> str:
    """Stop a recording; returns its state. Stopping twice costs one ``stop`` call."""
    connection, settings = _context()
    return _stop(connection, settings, recording_id)


# ---- internal jobs -----------------------------------------------------------------


def run_start(recording_id: str) -> None:
    connection, settings = _context()
    _start(connection, settings, recording_id)


def run_stop(recording_id: str) -> str:
    connection, settings = _context()
    return _stop(connection, settings, recording_id)


def poll(recording_id: str, sid: str) -> None:
    """Ask ``query`` how the session is doing, fold the answer in, act, and poll again."""
    connection, settings = _context()
    recording = recordings.load(connection, recording_id)
    if recording is None or recording["sid"] != sid or recording["state"] not in (ACTIVE,):
        return
    client = runtime.agora_client(connection)
    resource_id = recording["resource_id"]
    try:
        answer = retrying.call(
            lambda: client.query(resource_id, sid),
            scale=settings.agora_retry_scale,
            retry_on=retrying.TRANSIENT,
        )
    except AgoraError as exc:
        if exc.verdict.meaning is Meaning.NOT_FOUND:
            _not_found(connection, settings, recording, "poll")
            return
        _schedule_poll(connection, settings, recording, settings.recording_poll_s)
        raise
    response = answer.get("serverResponse") or {}
    file_list = response.get("fileList")
    files: list[dict[str, Any]] = file_list if isinstance(file_list, list) else []
    status = response.get("status")
    session = None
    if isinstance(status, int):
        session = sessions.observe_query(
            connection,
            sid,
            cname=recording["cname"],
            recorder_uid=recording["recorder_uid"],
            status=status,
            files=files,
            retention_s=settings.session_retention_s,
        )
    recording = recordings.update(connection, recording_id, lambda r: r.update(not_found=0))
    _act(connection, settings, recording, session)
    recording = recordings.load(connection, recording_id) or recording
    if recording["state"] == ACTIVE and recording["sid"] == sid:
        delay = settings.recording_poll_s if recording["confirmed"] else UNCONFIRMED_POLL_S
        _schedule_poll(connection, settings, recording, min(delay, settings.recording_poll_s))


def reconcile(recording_id: str, sid: str) -> None:
    """Act on what a session's callbacks changed (enqueued by the drain)."""
    connection, settings = _context()
    recording = recordings.load(connection, recording_id)
    if recording is None or recording["sid"] != sid:
        return
    _act(connection, settings, recording, sessions.load(connection, sid))


# ---- the steps ---------------------------------------------------------------------


def _act(
    connection: Redis,
    settings: Settings,
    recording: dict[str, Any],
    session: dict[str, Any] | None,
) -> None:
    action = recordings.decide(
        recording, session, recordings.now_ms(), settings.recording_start_confirm_s
    )
    if action.kind == "confirm":
        recordings.update(connection, recording["id"], lambda r: r.update(confirmed=True))
        _log("recording.confirmed", recording)
    elif action.kind == "restart":
        _restart(connection, settings, recording, action.reason or "")
    elif action.kind == "finish":

        def finish(r: dict[str, Any]) -> None:
            r.update(state=action.state, ended_reason=action.reason)
            if session is not None:
                r["upload_status"] = session.get("upload_status") or r.get("upload_status")

        done = recordings.update(connection, recording["id"], finish)
        _log("recording.finished", done, reason=action.reason)


def _restart(connection: Redis, settings: Settings, recording: dict[str, Any], reason: str) -> None:
    if recording["restarts"] >= settings.recording_max_restarts:
        failed = recordings.update(
            connection,
            recording["id"],
            lambda r: r.update(
                state=FAILED, error=f"gave up after {r['restarts']} restarts: {reason}"
            ),
        )
        _log("recording.gave_up", failed, reason=reason)
        return

    def mark(r: dict[str, Any]) -> None:
        r["restarts"] += 1
        r["restart_reasons"].append(reason)
        r.update(state=STARTING, confirmed=False, not_found=0)

    restarted = recordings.update(connection, recording["id"], mark)
    RESTARTS.labels(reason.split(" ", maxsplit=1)[0] if reason else "unknown").inc()
    _log("recording.restarting", restarted, reason=reason, restarts=restarted["restarts"])
    _start(connection, settings, recording["id"], restarting=True)


def _start(
    connection: Redis, settings: Settings, recording_id: str, *, restarting: bool = False
) -> None:
    with connection.lock(
        keys.recording_lock(recording_id),
        timeout=CONTROL_TIMEOUT_S,
        blocking_timeout=CONTROL_TIMEOUT_S,
    ):
        recording = recordings.load(connection, recording_id)
        if recording is None or not recording["wanted"]:
            return
        if recording["state"] not in (REQUESTED, STARTING):
            return
        if recording["state"] == REQUESTED:
            recording = recordings.update(
                connection, recording_id, lambda r: r.update(state=STARTING)
            )
        _log("recording.starting", recording, restarting=restarting)
        client = runtime.agora_client(connection)
        cname = recording["cname"]
        avoid = channel_uids(connection, cname) | set(recording["recorder_uids"])
        avoid |= set(recording["uids"] or [])
        last_error: AgoraError | None = None
        for _ in range(START_ATTEMPTS):
            uid = recordings.new_recorder_uid(avoid)
            avoid.add(uid)
            try:
                resource_id, sid = _acquire_and_start(client, settings, recording, uid)
            except AgoraError as exc:
                last_error = exc
                _log("recording.start_failed", recording, error=str(exc))
                if exc.verdict.meaning is Meaning.CONFIGURATION:
                    break
                continue
            active = recordings.update(
                connection,
                recording_id,
                functools.partial(_became_active, sid=sid, resource_id=resource_id, uid=uid),
            )
            sessions.link(connection, sid, recording_id, resource_id, settings.session_retention_s)
            _log("recording.active", active, resource_id_len=len(resource_id), recorder_uid=uid)
            _schedule_poll(connection, settings, active, FIRST_POLL_S * settings.agora_retry_scale)
            return
        failed = recordings.update(
            connection, recording_id, lambda r: r.update(state=FAILED, error=str(last_error))
        )
        _log("recording.failed", failed, error=str(last_error))


def _acquire_and_start(
    client: AgoraClient, settings: Settings, recording: dict[str, Any], uid: str
) -> tuple[str, str]:
    cname = recording["cname"]
    resource_id = retrying.call(
        lambda: client.acquire(cname, uid, recording["resource_ids"]),
        scale=settings.agora_retry_scale,
        retry_on=retrying.TRANSIENT,
    )
    token = recorder_token(settings, cname, uid)
    try:
        answer = retrying.call(
            lambda: client.start(
                resource_id, cname, uid, recording["uids"], recording["max_idle_time"], token
            ),
            scale=settings.agora_retry_scale,
            retry_on=retrying.START_TRANSIENT,
        )
    except AgoraError as exc:
        # 201/7: a retried start whose first attempt had in fact succeeded.
        if exc.verdict.meaning is Meaning.ALREADY_STARTED and exc.body.get("sid"):
            answer = exc.body
        else:
            raise
    return resource_id, str(answer["sid"])


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
    )
    r["sids"].append(sid)
    r["resource_ids"].append(resource_id)
    r["recorder_uids"].append(uid)


def _not_found(connection: Redis, settings: Settings, recording: dict[str, Any], step: str) -> None:
    """404 may be a failover (Agora: re-ask after 5, 10, 15 s) or a session that is gone."""
    tries = recording["not_found"] + 1

    def count(r: dict[str, Any]) -> None:
        r.update(not_found=tries, failover_404s=r.get("failover_404s", 0) + 1)

    recording = recordings.update(connection, recording["id"], count)
    if tries <= len(FAILOVER_SCHEDULE_S):
        delay = FAILOVER_SCHEDULE_S[tries - 1] * settings.agora_retry_scale
        if step == "poll":
            _schedule_poll(connection, settings, recording, delay)
        else:
            _schedule(connection, settings, "workers.control.run_stop", (recording["id"],), delay)
        return
    if step == "poll" and recording["wanted"] and recording["state"] == ACTIVE:
        _restart(connection, settings, recording, "session not found after the failover window")
        return
    done = recordings.update(
        connection,
        recording["id"],
        lambda r: r.update(state=STOPPED, ended_reason="session already ended (404)"),
    )
    _log("recording.finished", done, reason="not found")


def _stop(connection: Redis, settings: Settings, recording_id: str) -> str:
    def want_stopped(r: dict[str, Any]) -> None:
        r["wanted"] = False
        if r["state"] == REQUESTED:
            r["state"] = STOPPED
        elif r["state"] in (STARTING, ACTIVE):
            r["state"] = STOPPING

    recording = recordings.update(connection, recording_id, want_stopped)
    if recording["state"] != STOPPING:
        return str(recording["state"])
    with connection.lock(
        keys.recording_lock(recording_id),
        timeout=CONTROL_TIMEOUT_S,
        blocking_timeout=CONTROL_TIMEOUT_S,
    ):
        recording = recordings.load(connection, recording_id) or recording
        if recording["state"] != STOPPING:
            return str(recording["state"])
        if recording["sid"] is None:
            return str(
                recordings.update(connection, recording_id, lambda r: r.update(state=STOPPED))[
                    "state"
                ]
            )
        client = runtime.agora_client(connection)
        try:
            answer = retrying.call(
                lambda: client.stop(
                    recording["resource_id"],
                    recording["sid"],
                    recording["cname"],
                    recording["recorder_uid"],
                ),
                scale=settings.agora_retry_scale,
                retry_on=retrying.TRANSIENT,
            )
            response = answer.get("serverResponse") or {}
            upload = response.get("uploadingStatus")
            note = None
            file_list = response.get("fileList")
            sessions.observe_query(
                connection,
                recording["sid"],
                cname=recording["cname"],
                recorder_uid=recording["recorder_uid"],
                status=STATUS_EXITED,
                files=file_list if isinstance(file_list, list) else [],
                retention_s=settings.session_retention_s,
                upload_status=upload if isinstance(upload, str) else None,
            )
        except AgoraError as exc:
            meaning = exc.verdict.meaning
            if meaning is Meaning.NOT_FOUND:
                _not_found(connection, settings, recording, "stop")
                return STOPPING
            if meaning is Meaning.CONFIGURATION:
                message = str(exc)
                recordings.update(
                    connection, recording_id, lambda r: r.update(state=FAILED, error=message)
                )
                return FAILED
            if meaning not in (Meaning.NOTHING_RECORDED, Meaning.ALREADY_STOPPING):
                raise  # transient and retries exhausted: the job's own Retry takes over
            upload, note = None, meaning.value
        done = recordings.update(
            connection,
            recording_id,
            lambda r: r.update(
                state=STOPPED, upload_status=upload or r.get("upload_status"), ended_reason=note
            ),
        )
        _log("recording.stopped", done, upload_status=upload, note=note)
        return STOPPED


def _schedule_poll(
    connection: Redis, settings: Settings, recording: dict[str, Any], delay_s: float
) -> None:
    _schedule(
        connection, settings, "workers.control.poll", (recording["id"], recording["sid"]), delay_s
    )


def _schedule(
    connection: Redis, settings: Settings, func: str, args: tuple[str, ...], delay_s: float
) -> None:
    # A fresh id each time: a finishing job must never delete the hash of its successor.
    job_id = f"{func.rsplit('.', 1)[-1]}-{args[0]}-{secrets.token_hex(4)}"
    control_queue(connection).enqueue_in(
        timedelta(seconds=delay_s),
        func,
        *args,
        job_id=job_id,
        job_timeout=CONTROL_TIMEOUT_S,
        result_ttl=0,
        failure_ttl=job_policy(settings).failure_ttl_s,
        retry=job_policy(settings).retry(),
    )
