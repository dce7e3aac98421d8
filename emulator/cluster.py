"""The emulated recording service: resources, sessions and the callbacks each session sends."""

from __future__ import annotations

import itertools
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from emulator.faults import Faults
from emulator.sender import Sender

PROGRESS_EVERY_S = 60.0


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.status, self.body = status, body


def fail(status: int, code: int | None, reason: str) -> ApiError:
    return ApiError(
        status, {"code": code, "reason": reason} if code is not None else {"message": reason}
    )


@dataclass
class Session:
    sid: str
    resource_id: str
    cname: str
    uid: str
    uids: list[str]
    started: float
    state: str = "recording"  # recording | failover | ended
    status: int = 5  # what query answers: 5 in progress, 2 still starting
    failover_until: float = 0.0
    sequence: itertools.count = field(default_factory=itertools.count)  # type: ignore[type-arg]
    progress: int = 0
    # How this session misbehaves (faults taken when it started or ended)
    lose_exit: bool = False
    upload_after_exit: bool = False
    failover_copies: bool = False
    stream_sequences: dict[str, int] = field(default_factory=dict)  # uid -> sequence of its 43

    def file_list(self, mode: str) -> dict[str, Any]:
        """``fileListMode`` and ``fileList`` as query and stop answer them."""
        files = self.files()
        if mode == "string":  # one String, as Agora documents for fileListMode "string"
            return {"fileListMode": "string", "fileList": files[0]["fileName"] if files else ""}
        return {"fileListMode": "json", "fileList": files}

    def files(self, prefix: str = "") -> list[dict[str, Any]]:
        start_ms = int(self.started * 1000)
        return [
            {
                "fileName": f"{prefix}{self.sid}_{self.cname}__uid_s_{u}__uid_e_audio.m3u8",
                "trackType": "audio",
                "uid": u,
                "mixedAllUser": False,
                "isPlayable": True,
                "sliceStartTime": start_ms,
            }
            for u in self.uids
        ]


class Cluster:
    def __init__(
        self,
        sender: Sender,
        time_scale: float,
        channel_uids: tuple[str, ...],
        resource_ttl_s: float,
    ) -> None:
        self.sender, self.scale = sender, time_scale
        self.channel_uids = channel_uids
        self.resource_ttl_s = resource_ttl_s
        self.faults = Faults()
        self.lock = threading.RLock()
        self.resources: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, Session] = {}
        self._timers: list[threading.Timer] = []

    # ---- REST -------------------------------------------------------------------

    def acquire(self, cname: str, uid: str) -> str:
        resource_id = secrets.token_urlsafe(150)
        with self.lock:
            self.resources[resource_id] = {
                "cname": cname,
                "uid": uid,
                "sid": None,
                "expires": time.monotonic() + self.resource_ttl_s,
            }
        return resource_id

    def start(self, resource_id: str, cname: str, uid: str, uids: list[str]) -> str:
        with self.lock:
            resource = self.resources.get(resource_id)
            if resource is None:
                raise fail(400, 1001, "failed to parse resourceId")
            if resource["expires"] < time.monotonic():
                raise fail(400, 433, "resourceId expired")
            if (resource["cname"], resource["uid"]) != (cname, uid):
                raise fail(400, 432, "cname or uid does not match the resourceId")
            if resource["sid"] is not None:
                # Agora's documented 201 body carries no sid (agora-reference §4.9).
                raise ApiError(201, {"code": 7, "reason": "already started"})
            if any(
                s.cname == cname and s.uid == uid and s.state != "ended"
                for s in self.sessions.values()
            ):
                raise fail(400, 53, "task conflict")
            session = Session(
                secrets.token_hex(16),
                resource_id,
                cname,
                uid,
                uids or list(self.channel_uids),
                time.time(),
            )
            resource["sid"] = session.sid
            self.sessions[session.sid] = session
            failover = self.faults.take("failover")
            abnormal = self.faults.take("abnormal_exit")
            silent = self.faults.take("never_records")
            session.failover_copies = self.faults.take("failover_copies")
        self._run_lifecycle(session, failover=failover, abnormal=abnormal, silent=silent)
        return session.sid

    def running(self, resource_id: str, sid: str) -> Session:
        with self.lock:
            session = self.sessions.get(sid)
            if session is None or session.resource_id != resource_id:
                raise fail(404, 404, "failed to find worker")
            if session.state == "failover" and time.monotonic() < session.failover_until:
                raise fail(404, 404, "failed to find worker")
            if session.state == "ended":
                raise fail(404, 404, "failed to find worker")
            return session

    def stop(self, resource_id: str, sid: str) -> dict[str, Any]:
        with self.lock:
            if self.faults.take("stop_1003"):
                raise fail(400, 1003, "sid does not match the resourceId")
            session = self.running(resource_id, sid)
            session.state = "ended"
            nothing = self.faults.take("stop_nothing_recorded")
            exiting = self.faults.take("stop_501")
            slow_upload = self.faults.take("stop_50")
            mode = self.faults.file_list_mode
        if exiting:  # already on its way out (maxIdleTime, or a stop that timed out)
            self._finish(session, leave_code=4, exit_status=0)
            raise fail(400, 501, "recording service is exiting")
        if slow_upload:  # stopped; the upload goes on past the 20 s a synchronous stop waits
            session.upload_after_exit = True
            self._finish(session, leave_code=16, exit_status=0)
            raise fail(400, 50, "upload timeout")
        self._finish(session, leave_code=16, exit_status=0)
        if nothing:
            raise fail(206, 435, "no recorded data")
        return {**session.file_list(mode), "uploadingStatus": "uploaded"}

    # ---- test controls ------------------------------------------------------------

    def crash(self, sid: str) -> None:
        with self.lock:
            session = self.sessions[sid]
            session.state = "ended"
        self._emit(
            session,
            1,
            {
                "msgName": "cloud_recording_error",
                "module": 2,
                "errorLevel": 5,
                "errorCode": 52,
                "stat": 1,
                "errorMsg": "service crashed",
            },
        )
        self._emit(session, 41, {"msgName": "recorder_leave", "leaveCode": 2})
        self._emit(session, 11, {"msgName": "session_exit", "exitStatus": 1})

    def fatal(self, sid: str) -> None:
        """A fatal error (level 5) whose 41 and 11 NCS loses: only ``query`` can tell that
        the service exited abnormally (status 20)."""
        with self.lock:
            session = self.sessions[sid]
            session.status, session.state = 20, "exited_abnormally"
        self._emit(
            session,
            1,
            {
                "msgName": "cloud_recording_error",
                "module": 2,
                "errorLevel": 5,
                "errorCode": 52,
                "stat": 1,
                "errorMsg": "service exiting",
            },
        )

    def idle_out(self, sid: str) -> None:
        with self.lock:
            session = self.sessions[sid]
            session.state = "ended"
        self._finish(session, leave_code=4, exit_status=0)

    # ---- callbacks ----------------------------------------------------------------

    def _later(self, delay_s: float, fn: Any, *args: Any) -> None:
        timer = threading.Timer(delay_s * self.scale, fn, args)
        timer.daemon = True
        timer.start()

    def _emit(
        self,
        session: Session,
        event_type: int,
        details: dict[str, Any],
        uid: str | None = None,
        sequence: int | None = None,
    ) -> int:
        sequence = next(session.sequence) if sequence is None else sequence
        body = {
            "noticeId": secrets.token_hex(16),
            "productId": 3,
            "eventType": event_type,
            "notifyMs": int(time.time() * 1000),
            "sid": session.sid,
            "payload": {
                "cname": session.cname,
                "uid": uid or session.uid,
                "sid": session.sid,
                "sequence": sequence,
                "sendts": int(time.time() * 1000),
                "serviceType": 0 if event_type < 30 else (2 if event_type < 40 else 1),
                "details": details,
            },
        }
        self._deliver(body)
        return sequence

    def emit_channel_event(self, event_type: int, payload: dict[str, Any]) -> None:
        body = {
            "noticeId": f"{secrets.randbelow(10**10)}:{event_type}",
            "productId": 1,
            "eventType": event_type,
            "notifyMs": int(time.time() * 1000),
            "payload": {"ts": int(time.time()), "clientSeq": int(time.time() * 1000), **payload},
        }
        self._deliver(body)

    def _deliver(self, body: dict[str, Any]) -> None:
        with self.lock:
            f = self.faults
            if f.drops and random.random() < f.drops:
                return
            delays = [f.delay_ms + (random.randint(0, f.reorder_ms) if f.reorder_ms else 0)]
            if f.duplicates and random.random() < f.duplicates:
                delays.append(delays[0] + random.randint(0, max(f.reorder_ms, 50)))
            redundant = f.redundant and random.random() < f.redundant
        for delay_ms in delays:
            self.sender.send(body, delay_ms / 1000)
        if redundant:
            self.sender.send(dict(body, noticeId=secrets.token_hex(16)), delays[0] / 1000)

    def _run_lifecycle(
        self, session: Session, *, failover: bool, abnormal: bool, silent: bool
    ) -> None:
        # The recorder's own join. 107 (communication profile) carries no clientType
        # (agora-reference §3.7): only its uid says it is the recorder.
        self.emit_channel_event(
            107, {"channelName": session.cname, "uid": int(session.uid), "platform": 6}
        )
        if silent:
            session.status = 2
            return
        self._emit(session, 40, {"msgName": "recorder_started", "status": 0})
        self._emit(session, 30, {"msgName": "uploader_started", "status": 0})
        for uid, entry in zip(session.uids, session.files(), strict=True):
            now_ms = int(time.time() * 1000)
            session.stream_sequences[uid] = self._emit(
                session,
                43,
                {
                    "msgName": "recorder_audio_stream_state_changed",
                    "streamUid": uid,
                    "state": 0,
                    "UtcMs": now_ms,
                },
            )
            self._emit(
                session,
                42,
                {
                    "msgName": "recorder_slice_start",
                    "startUtcMs": now_ms,
                    "discontinueUtcMs": now_ms,
                    "mixedAllUser": False,
                    "streamUid": uid,
                    "trackType": "audio",
                },
            )
            self._emit(
                session, 4, {"msgName": "cloud_recording_file_infos", "fileList": entry["fileName"]}
            )
        if failover:
            self._later(1.0, self._fail_over, session)
        if abnormal:
            self._later(2.0, self.crash, session.sid)
        self._later(PROGRESS_EVERY_S, self._progress, session)

    def _fail_over(self, session: Session) -> None:
        new_uid = str(random.randint(10**8, 2**32 - 1))
        with self.lock:
            if session.state == "ended":
                return
            session.state = "failover"
            session.failover_until = time.monotonic() + self.faults.failover_s * self.scale
        self._emit(session, 12, {"msgName": "session_failover", "newUid": int(new_uid)})
        self._later(self.faults.failover_s, self._recovered, session, new_uid)

    def _recovered(self, session: Session, new_uid: str) -> None:
        with self.lock:
            if session.state == "ended":
                return
            session.state, session.uid = "recording", new_uid
        self._emit(session, 40, {"msgName": "recorder_started", "status": 0}, uid=new_uid)
        if session.failover_copies:
            # "During HA some notifications may be sent twice; the uid tells them apart"
            # (agora-reference §2.3, event 12): the new server repeats the stream events
            # under the sequence numbers the old one used.
            for uid, sequence in session.stream_sequences.items():
                details = {
                    "msgName": "recorder_audio_stream_state_changed",
                    "streamUid": uid,
                    "state": 0,
                    "UtcMs": int(time.time() * 1000),
                }
                self._emit(session, 43, details, uid=new_uid, sequence=sequence)

    def _late_upload(self, session: Session, uploaded: dict[str, Any]) -> None:
        self._emit(session, 33, {"msgName": "uploading_progress", "progress": 10000})
        self._emit(session, 31, uploaded)

    def _progress(self, session: Session) -> None:
        if session.state == "ended":
            return
        session.progress = min(9000, session.progress + 1000)
        self._emit(session, 33, {"msgName": "uploading_progress", "progress": session.progress})
        self._later(PROGRESS_EVERY_S, self._progress, session)

    def _finish(self, session: Session, leave_code: int, exit_status: int) -> None:
        with self.lock:
            lose_exit = session.lose_exit or self.faults.take("lose_exit")
            late_upload = session.upload_after_exit or self.faults.take("upload_after_exit")
        self._emit(session, 41, {"msgName": "recorder_leave", "leaveCode": leave_code})
        uploaded = {"msgName": "uploaded", "status": 0, "fileList": session.files()}
        if not late_upload:
            self._emit(session, 33, {"msgName": "uploading_progress", "progress": 10000})
            self._emit(session, 31, uploaded)
        sequence = next(session.sequence)  # 11 keeps its place in the sequence even when lost
        if not lose_exit:
            exit_details = {"msgName": "session_exit", "exitStatus": exit_status}
            self._emit(session, 11, exit_details, sequence=sequence)
        if late_upload:  # the upload finishes after the service exited (seen in the field)
            self._later(1.0, self._late_upload, session, uploaded)
        self.emit_channel_event(
            108,
            {
                "channelName": session.cname,
                "uid": int(session.uid),
                "platform": 6,
                "reason": 1,
                "duration": 1,
            },
        )
