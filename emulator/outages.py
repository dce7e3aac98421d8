"""Outages the emulator can play, by time rather than by count: every call to an endpoint
(or to one API domain, by the Host it was sent to) answers 503 for some seconds.

``POST /_emulator/outage`` ``{"endpoint": "query", "seconds": 20}`` or
``{"host": "localhost", "seconds": 60}``; ``POST /_emulator/slow``
``{"endpoint": "start", "delay_s": 5, "count": 1}`` makes the next calls do their work and
then answer late (a start that reached Agora while its caller died); ``GET
/_emulator/calls`` lists every REST call (monotonic time, endpoint, sid, host, status) so
tests can measure rates per session.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue

ENDPOINTS = ("acquire", "start", "query", "update", "stop")
MAX_LOGGED = 500_000


class Outages:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.until: dict[str, float] = {}  # "endpoint:<name>" or "host:<name>" -> end
        self.calls: list[tuple[float, str, str | None, str, int]] = []
        self.slow: dict[str, tuple[float, int]] = {}  # endpoint -> (delay, calls left)

    def take_delay(self, endpoint: str) -> float:
        with self.lock:
            delay, left = self.slow.get(endpoint, (0.0, 0))
            if left <= 0:
                return 0.0
            self.slow[endpoint] = (delay, left - 1)
            return delay

    def down(self, endpoint: str, host: str) -> bool:
        now = time.monotonic()
        with self.lock:
            return any(
                self.until.get(key, 0.0) > now for key in (f"endpoint:{endpoint}", f"host:{host}")
            )

    def log(self, endpoint: str, sid: str | None, host: str, status: int) -> None:
        with self.lock:
            if len(self.calls) < MAX_LOGGED:
                self.calls.append((time.monotonic(), endpoint, sid, host, status))


def _endpoint(path: str) -> str | None:
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return last if "/cloud_recording/" in path and last in ENDPOINTS else None


def install(app: Flask) -> Outages:
    outages = Outages()

    @app.before_request
    def play_outage() -> ResponseReturnValue | None:
        endpoint = _endpoint(request.path)
        if endpoint is None:
            return None
        host = request.host.split(":", 1)[0]
        if outages.down(endpoint, host):
            sid = (request.view_args or {}).get("sid")
            outages.log(endpoint, sid, host, 503)
            return jsonify({"code": 503, "reason": "service unavailable (emulated)"}), 503
        return None

    @app.after_request
    def log_call(response: Response) -> Response:
        endpoint = _endpoint(request.path)
        if endpoint is not None and response.status_code != 503:
            sid = (request.view_args or {}).get("sid")
            outages.log(endpoint, sid, request.host.split(":", 1)[0], response.status_code)
            delay = outages.take_delay(endpoint)
            if delay:
                time.sleep(delay)  # the work is done; only the answer is late
        return response

    @app.post("/_emulator/slow")
    def slow() -> ResponseReturnValue:
        wanted = request.get_json(force=True) or {}
        delay, count = wanted.get("delay_s", 0), wanted.get("count", 1)
        if wanted.get("endpoint") not in ENDPOINTS:
            return jsonify({"error": f"endpoint must be one of {', '.join(ENDPOINTS)}"}), 400
        if not all(
            isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
            for v in (delay, count)
        ):
            return jsonify({"error": "delay_s and count must be non-negative numbers"}), 400
        with outages.lock:
            outages.slow[wanted["endpoint"]] = (float(delay), int(count))
        return jsonify({"slow": wanted["endpoint"], "delay_s": delay, "count": count})

    @app.post("/_emulator/outage")
    def outage() -> ResponseReturnValue:
        wanted = request.get_json(force=True) or {}
        seconds = wanted.get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            return jsonify({"error": "seconds must be a non-negative number"}), 400
        if wanted.get("endpoint") in ENDPOINTS:
            key = f"endpoint:{wanted['endpoint']}"
        elif isinstance(wanted.get("host"), str) and wanted["host"]:
            key = f"host:{wanted['host']}"
        else:
            return jsonify({"error": f"give an endpoint ({', '.join(ENDPOINTS)}) or a host"}), 400
        with outages.lock:
            outages.until[key] = time.monotonic() + seconds
        return jsonify({"outage": key, "seconds": seconds})

    @app.get("/_emulator/calls")
    def calls() -> ResponseReturnValue:
        with outages.lock:
            listed: list[dict[str, Any]] = [
                {"t": t, "endpoint": e, "sid": s, "host": h, "status": st}
                for t, e, s, h, st in outages.calls
            ]
        return jsonify({"now": time.monotonic(), "calls": listed})

    return outages
