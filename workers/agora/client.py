"""The Cloud Recording REST client: one HTTP session, a timeout on every call, Basic auth,
the shared rate limit (queries behind starts and stops), Agora's two domains, and typed
errors (``answers.AgoraError``) for every failure.

Domains (Agora's integration best practice): ``AGORA_API_BASES`` in order of preference. A
call that gets no answer or a 5xx is retried (by the caller's in-call retry, 1/3/6 s) on
the same domain once; a second such failure in a row moves this process to the next domain,
where it stays while calls succeed. Every attempt, on either domain, takes its slot from the
one shared budget.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import requests

from config.settings import Settings
from workers.agora import bodies
from workers.agora.answers import AgoraError, Meaning, Retry, Verdict, judge
from workers.metrics import (
    AGORA_DOMAIN_SWITCHES,
    AGORA_LATENCY,
    AGORA_REQUESTS,
    RATE_LIMIT_WAIT,
)
from workers.ratelimit import RateLimitTimeout, SharedRateLimit

log = logging.getLogger("recbridge.agora")

STOP_TIMEOUT_S = 30.0  # a synchronous stop may wait ~20 s for the upload
FAILURES_BEFORE_SWITCH = 2  # the first try and one retry on the same domain
PRIORITY_ENDPOINTS = frozenset({"acquire", "start", "stop", "update"})


class AgoraClient:
    def __init__(
        self,
        settings: Settings,
        rate_limit: SharedRateLimit,
        *,
        timeout_s: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        if not (settings.agora_app_id and settings.agora_customer_id):
            raise ValueError("AGORA_APP_ID and AGORA_CUSTOMER_ID are needed for recording control")
        secret = settings.agora_customer_secret.reveal() if settings.agora_customer_secret else ""
        self._settings = settings
        self._rate_limit = rate_limit
        self._timeout_s = timeout_s
        self._http = session or requests.Session()
        self._http.auth = (settings.agora_customer_id, secret)
        self._http.headers["Content-Type"] = "application/json"
        path = f"/v1/apps/{settings.agora_app_id}/cloud_recording"
        self._bases = [base + path for base in settings.api_bases]
        self._domain = 0  # index into _bases: where this process sends its calls
        self._failures = 0  # failures in a row (no answer, 5xx) on the current domain
        self._mode = settings.agora_recording_mode

    @property
    def domain(self) -> int:
        return self._domain

    def _answered(self, failed: bool) -> None:
        if not failed:
            self._failures = 0
            return
        self._failures += 1
        if self._failures >= FAILURES_BEFORE_SWITCH and len(self._bases) > 1:
            self._domain = (self._domain + 1) % len(self._bases)
            self._failures = 0
            AGORA_DOMAIN_SWITCHES.inc()
            log.warning("agora.domain_switched", extra={"domain": self._domain})

    def close(self) -> None:
        self._http.close()

    def acquire(self, cname: str, uid: str, exclude_resource_ids: Sequence[str] = ()) -> str:
        body = bodies.acquire_body(self._settings, cname, uid, exclude_resource_ids)
        answer = self._call("acquire", "POST", "/acquire", body)
        return str(answer["resourceId"])

    def start(
        self,
        resource_id: str,
        cname: str,
        uid: str,
        uids: Sequence[str] | None,
        max_idle_time: int,
        token: str | None,
    ) -> dict[str, Any]:
        body = bodies.start_body(self._settings, cname, uid, uids, max_idle_time, token)
        path = f"/resourceid/{resource_id}/mode/{self._mode}/start"
        return self._call("start", "POST", path, body)

    def query(self, resource_id: str, sid: str) -> dict[str, Any]:
        return self._call(
            "query", "GET", f"/resourceid/{resource_id}/sid/{sid}/mode/{self._mode}/query"
        )

    def update(
        self,
        resource_id: str,
        sid: str,
        cname: str,
        uid: str,
        *,
        subscribe: Sequence[str] | None = None,
        unsubscribe: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        body = bodies.update_body(cname, uid, subscribe, unsubscribe)
        path = f"/resourceid/{resource_id}/sid/{sid}/mode/{self._mode}/update"
        return self._call("update", "POST", path, body)

    def stop(self, resource_id: str, sid: str, cname: str, uid: str) -> dict[str, Any]:
        path = f"/resourceid/{resource_id}/sid/{sid}/mode/{self._mode}/stop"
        return self._call("stop", "POST", path, bodies.stop_body(cname, uid), STOP_TIMEOUT_S)

    def _call(
        self,
        endpoint: str,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        try:
            waited = self._rate_limit.acquire(priority=endpoint in PRIORITY_ENDPOINTS)
        except RateLimitTimeout as exc:
            # Our own budget is spent: the same verdict as Agora's 429, never sent.
            AGORA_REQUESTS.labels(endpoint, "budget_wait").inc()
            verdict = Verdict(Meaning.RATE_LIMITED, Retry.BACKOFF)
            raise AgoraError(endpoint, None, None, str(exc), verdict) from exc
        RATE_LIMIT_WAIT.observe(waited)
        started = time.perf_counter()
        try:
            response = self._http.request(
                method,
                self._bases[self._domain] + path,
                json=body,
                timeout=timeout_s or self._timeout_s,
            )
        except requests.RequestException as exc:
            self._answered(failed=True)
            AGORA_REQUESTS.labels(endpoint, "network_error").inc()
            log.warning(
                "agora.network_error", extra={"endpoint": endpoint, "error": type(exc).__name__}
            )
            raise AgoraError(endpoint, None, None, type(exc).__name__, judge(None, None)) from exc
        self._answered(failed=response.status_code >= 500)
        elapsed = time.perf_counter() - started
        elapsed_ms = round(elapsed * 1000, 1)
        AGORA_LATENCY.labels(endpoint).observe(elapsed)
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        code = answer.get("code") if isinstance(answer, dict) else None
        log.info(
            "agora.call",
            extra={
                "endpoint": endpoint,
                "status": response.status_code,
                "code": code,
                "ms": elapsed_ms,
                "rate_wait_ms": round(waited * 1000, 1),
                "domain": self._domain,
            },
        )
        if response.status_code == 200 and isinstance(answer, dict):
            AGORA_REQUESTS.labels(endpoint, "ok").inc()
            return answer
        verdict = judge(response.status_code, answer)
        AGORA_REQUESTS.labels(endpoint, verdict.meaning.value).inc()
        reason = ""
        if isinstance(answer, dict):
            reason = str(answer.get("reason") or answer.get("message") or "")
        raise AgoraError(
            endpoint,
            response.status_code,
            code,
            reason,
            verdict,
            body=answer if isinstance(answer, dict) else None,
        )
