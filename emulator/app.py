"""The emulator's HTTP face: Agora's REST endpoints, and ``/_emulator/*`` test controls."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections import deque
from typing import Any

import orjson
from flask import Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue

from config.emulator import EmulatorSettings
from emulator import outages
from emulator.cluster import ApiError, Cluster, fail
from emulator.sender import Sender

PREFIX = "/v1/apps/<app_id>/cloud_recording"
SESSION_PATH = PREFIX + "/resourceid/<resource_id>/sid/<sid>/mode/<mode>"


class CallLog:
    """Every REST call's time, to enforce and to measure the QPS limit."""

    def __init__(self, qps: int) -> None:
        self.qps = qps
        self.lock = threading.Lock()
        self.recent: deque[float] = deque()
        self.all: list[tuple[float, str]] = []
        self.max_in_one_second = 0
        self.by_cname: dict[str, dict[str, int]] = {}  # cname -> endpoint -> calls
        # Calls answered 429, per endpoint. A loaded machine can hold this process back
        # and hand it requests sent over more than a second in less than one: the caller
        # retries them (Agora's rule), so "calls" counts them twice and "answered" once.
        self.refused: dict[str, int] = {}

    def count(self, cname: str | None, endpoint: str) -> None:
        """Calls per channel, so tests sharing one emulator each see their own."""
        if cname is None:
            return
        with self.lock:
            per = self.by_cname.setdefault(cname, {})
            per[endpoint] = per.get(endpoint, 0) + 1

    def record(self, endpoint: str) -> bool:
        """Log a call; False when it is over the QPS limit (Agora answers 429)."""
        now = time.monotonic()
        with self.lock:
            while self.recent and self.recent[0] <= now - 1.0:
                self.recent.popleft()
            self.all.append((now, endpoint))
            if len(self.recent) >= self.qps:
                return False
            self.recent.append(now)
            self.max_in_one_second = max(self.max_in_one_second, len(self.recent))
            return True

    def refuse(self, endpoint: str) -> None:
        with self.lock:
            self.refused[endpoint] = self.refused.get(endpoint, 0) + 1

    def stats(self) -> dict[str, Any]:
        with self.lock:
            by_endpoint: dict[str, int] = {}
            for _, endpoint in self.all:
                by_endpoint[endpoint] = by_endpoint.get(endpoint, 0) + 1
            answered = {e: n - self.refused.get(e, 0) for e, n in by_endpoint.items()}
            times = sorted(t for t, _ in self.all)
            peak, j = 0, 0
            for i, t in enumerate(times):  # the most calls in any one-second window
                while times[j] <= t - 1.0:
                    j += 1
                peak = max(peak, i - j + 1)
            return {
                "calls": by_endpoint,
                "answered": answered,  # calls not refused with a 429
                "refused": dict(self.refused),
                "total": len(self.all),
                "max_calls_in_any_second": peak,
                "calls_by_cname": {c: dict(e) for c, e in self.by_cname.items()},
            }


def create_app(settings: EmulatorSettings | None = None) -> Flask:
    settings = settings or EmulatorSettings.from_env()
    app = Flask("agora-emulator")
    sender = Sender(settings.callback_url, settings.ncs_secret, settings.time_scale)
    cluster = Cluster(sender, settings.time_scale, settings.channel_uids, settings.resource_ttl_s)
    cluster.faults.update(orjson.loads(settings.faults))
    calls = CallLog(settings.qps)
    outages.install(app)  # time-based outages of an endpoint or a domain; the call log
    expected_auth = (
        "Basic "
        + base64.b64encode(f"{settings.customer_id}:{settings.customer_secret}".encode()).decode()
    )

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> ResponseReturnValue:
        return jsonify(exc.body), exc.status

    def gate(endpoint: str, app_id: str, sid: str | None = None) -> None:
        data = request.get_json(silent=True)
        cname = data.get("cname") if isinstance(data, dict) else None
        if cname is None and sid is not None and sid in cluster.sessions:
            cname = cluster.sessions[sid].cname
        calls.count(cname if isinstance(cname, str) else None, endpoint)
        if not calls.record(endpoint) or cluster.faults.take("rate_limited"):
            calls.refuse(endpoint)
            raise fail(429, None, "API rate limit exceeded")
        if request.headers.get("Authorization") != expected_auth:
            raise fail(401, None, "Invalid authentication credentials")
        if settings.app_id and app_id != settings.app_id:
            raise fail(400, None, "appid is invalid")
        if cluster.faults.take("server_errors"):
            raise fail(500, 500, "internal_error")

    def body() -> dict[str, Any]:
        if request.mimetype != "application/json":
            raise fail(400, 8, "invalid Content-Type")
        data = request.get_json(silent=True)
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("cname"), str)
            or not (isinstance(data.get("uid"), str) and data["uid"].isdigit())
        ):
            raise fail(400, 2, "invalid cname or uid")
        if not isinstance(data.get("clientRequest"), dict):
            raise fail(400, 2, "invalid clientRequest")
        return data

    @app.post(PREFIX + "/acquire")
    def acquire(app_id: str) -> ResponseReturnValue:
        gate("acquire", app_id)
        data = body()
        resource_id = cluster.acquire(data["cname"], data["uid"])
        return jsonify({"cname": data["cname"], "uid": data["uid"], "resourceId": resource_id})

    @app.post(PREFIX + "/resourceid/<resource_id>/mode/<mode>/start")
    def start(app_id: str, resource_id: str, mode: str) -> ResponseReturnValue:
        gate("start", app_id)
        data = body()
        uids = check_start(mode, data["clientRequest"])
        if cluster.faults.take("start_206"):
            raise fail(206, 65, "request not completed")
        if cluster.faults.take("start_432"):
            raise fail(400, 432, "invalid parameter: cname or uid does not match the resourceId")
        sid = cluster.start(resource_id, data["cname"], data["uid"], uids)
        if cluster.faults.take("start_206_started"):
            # The task runs, but the answer timed out: a retried start gets 201 / 7.
            raise fail(206, 65, "request not completed")
        return jsonify(
            {"cname": data["cname"], "uid": data["uid"], "resourceId": resource_id, "sid": sid}
        )

    @app.get(SESSION_PATH + "/query")
    def query(app_id: str, resource_id: str, sid: str, mode: str) -> ResponseReturnValue:
        gate("query", app_id, sid)
        session = cluster.running(resource_id, sid)
        return jsonify(
            {
                "cname": session.cname,
                "uid": session.uid,
                "resourceId": resource_id,
                "sid": sid,
                "serverResponse": {
                    "status": session.status,
                    **session.file_list(cluster.faults.file_list_mode),
                    "sliceStartTime": int(session.started * 1000),
                },
            }
        )

    @app.post(SESSION_PATH + "/update")
    def update(app_id: str, resource_id: str, sid: str, mode: str) -> ResponseReturnValue:
        gate("update", app_id)
        data = body()
        session = cluster.running(resource_id, sid)
        audio = data["clientRequest"].get("streamSubscribe", {}).get("audioUidList", {})
        if "subscribeAudioUids" in audio:
            session.uids = [u for u in audio["subscribeAudioUids"] if u != "#allstream#"]
        return jsonify(
            {"cname": session.cname, "uid": session.uid, "resourceId": resource_id, "sid": sid}
        )

    @app.post(SESSION_PATH + "/stop")
    def stop(app_id: str, resource_id: str, sid: str, mode: str) -> ResponseReturnValue:
        gate("stop", app_id)
        data = body()
        response = cluster.stop(resource_id, sid)
        return jsonify(
            {
                "cname": data["cname"],
                "uid": data["uid"],
                "resourceId": resource_id,
                "sid": sid,
                "serverResponse": response,
            }
        )

    # ---- test controls (bind the emulator to 127.0.0.1 only) ------------------------

    @app.route("/_emulator/faults", methods=["GET", "POST"])
    def faults() -> ResponseReturnValue:
        if request.method == "POST":
            try:
                cluster.faults.update(request.get_json(force=True) or {})
            except ValueError as exc:
                return jsonify({"error": str(exc)}), 400
        return jsonify(cluster.faults.as_dict())

    @app.get("/_emulator/stats")
    def stats() -> ResponseReturnValue:
        return jsonify(
            {
                **calls.stats(),
                "callbacks": sender.stats,
                "callbacks_pending": sender.pending(),
                "sessions": {
                    s.sid: {"cname": s.cname, "uid": s.uid, "state": s.state, "uids": s.uids}
                    for s in cluster.sessions.values()
                },
            }
        )

    @app.post("/_emulator/sessions/<sid>/<action>")
    def session_action(sid: str, action: str) -> ResponseReturnValue:
        actions = {"crash": cluster.crash, "idle": cluster.idle_out, "fatal": cluster.fatal}
        if sid not in cluster.sessions or action not in actions:
            return jsonify({"error": "unknown session or action"}), 404
        actions[action](sid)
        return jsonify({"status": "ok"})

    @app.post("/_emulator/channels/<cname>/<event>")
    def channel_event(cname: str, event: str) -> ResponseReturnValue:
        types = {"join": 103, "leave": 104, "audience": 105, "destroy": 102}
        if event not in types:
            return jsonify({"error": f"event must be one of {sorted(types)}"}), 400
        data = request.get_json(silent=True) or {}
        payload: dict[str, Any] = {"channelName": cname}
        if event == "destroy":
            payload["lastUid"] = int(data.get("uid", 0))
        else:
            payload |= {
                "uid": int(data.get("uid", 12345)),
                "platform": int(data.get("platform", 1)),
            }
            if event == "leave":
                payload |= {"reason": 1, "duration": 1}
        cluster.emit_channel_event(types[event], payload)
        return jsonify({"status": "sent"})

    @app.post("/_emulator/check")
    def check() -> ResponseReturnValue:
        """The Console's "Check" button: a test callback per subscribed event type, shaped
        like Agora's signature example body, sent at once; answers what the receiver said."""
        data = request.get_json(silent=True) or {}
        product = data.get("productId", 3)
        types = data.get("eventTypes") or CHECK_EVENT_TYPES.get(product, [])
        answers = {}
        for event_type in types:
            now_ms = int(time.time() * 1000)
            body = {
                "eventMs": now_ms,
                "eventType": event_type,
                "noticeId": str(uuid.uuid4()),
                "notifyMs": now_ms,
                "payload": {"a": "1", "b": 2},
                "productId": product,
            }
            answers[str(event_type)] = sender.post_now(body)
        return jsonify({"answers": answers})

    @app.get("/_emulator/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    app.extensions["emulator"] = cluster
    return app


# What the Console's check sends test events for: Agora's own example (10, product 1),
# the channel events, and every Cloud Recording event type one can subscribe to.
CHECK_EVENT_TYPES = {
    1: [10, 101, 102, 103, 104, 105, 106, 107, 108, 111, 112],
    3: [1, 2, 3, 4, 11, 12, 30, 31, 32, 33, 40, 41, 42, 43],
}


def check_start(mode: str, client_request: dict[str, Any]) -> list[str]:
    """The start rules this project relies on (agora-reference §4.4); returns subscribed uids."""
    config = client_request.get("recordingConfig")
    storage = client_request.get("storageConfig")
    if not isinstance(config, dict) or config.get("streamTypes") != 0:
        raise fail(400, 2, "recordingConfig.streamTypes must be 0 here")
    if mode == "individual" and config.get("streamMode") != "original":
        raise fail(400, 2, "recordingConfig.streamMode must be original here")
    if "subscribeUidGroup" not in config:
        raise fail(400, 2, "subscribeUidGroup is required in individual mode")
    if not isinstance(storage, dict) or not all(
        k in storage for k in ("vendor", "region", "bucket", "accessKey", "secretKey")
    ):
        raise fail(400, 2, "storageConfig is incomplete")
    uids = config.get("subscribeAudioUids") or ["#allstream#"]
    return [u for u in uids if u != "#allstream#"]
