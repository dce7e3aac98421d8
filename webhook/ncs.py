"""POST /agora/ncs: verify, validate, queue, answer. Nothing else happens here."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request
from flask.typing import ResponseReturnValue
from redis import RedisError
from werkzeug.exceptions import RequestEntityTooLarge

from webhook import signature
from webhook.context import app_state
from webhook.errors import error
from webhook.events import InvalidEvent, is_stale, parse_event
from workers.inbox import Replication, Submission, submit
from workers.metrics import CALLBACKS, EVENTS

MAX_BODY_BYTES = 1024 * 1024
RETRY_AFTER_S = "5"
# The two 200 bodies, built once: the hot path answers thousands of times a second.
_ANSWERS = {"accepted": b'{"status":"accepted"}\n', "duplicate": b'{"status":"duplicate"}\n'}

log = logging.getLogger("recbridge.ncs")
ncs_bp = Blueprint("ncs", __name__)


def _read_body() -> bytes:
    """The raw body, at most MAX_BODY_BYTES.

    A declared Content-Length over the limit is refused by Werkzeug before anything is read
    (the app's MAX_CONTENT_LENGTH is one byte more than the limit); a chunked body is read
    until it passes the limit, then refused.
    """
    chunks, size = [], 0
    try:
        while size <= MAX_BODY_BYTES:
            chunk = request.stream.read(MAX_BODY_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except RequestEntityTooLarge:
        size = MAX_BODY_BYTES + 1
    if size > MAX_BODY_BYTES:
        CALLBACKS.labels("too_large").inc()
        log.warning("ncs.too_large", extra={"content_length": request.content_length})
        abort(413)
    return b"".join(chunks)


def _refuse(status: int, name: str, log_extra: dict[str, Any], **body: Any) -> ResponseReturnValue:
    CALLBACKS.labels(name).inc()
    log.warning(f"ncs.{name}", extra=log_extra)
    return error(status, name, **body)


@ncs_bp.post("/agora/ncs")
def receive_callback() -> ResponseReturnValue:
    state = app_state()
    raw = _read_body()
    if not signature.verify(raw, request.headers, state.ncs_secrets):
        return _refuse(401, "invalid_signature", {"bytes": len(raw)})
    if request.mimetype != "application/json":
        return _refuse(
            415,
            "unsupported_media_type",
            {"content_type": request.content_type},
            message="Content-Type must be application/json",
        )
    try:
        event = parse_event(raw)
    except InvalidEvent as exc:
        return _refuse(400, "invalid_event", {"fields": exc.fields}, fields=exc.fields)
    context = {
        "noticeId": event.notice_id,
        "sid": event.sid,
        "cname": event.cname,
        "eventType": event.event_type,
        "productId": event.product_id,
    }
    now_ms = int(time.time() * 1000)
    if is_stale(event, now_ms, state.settings.ncs_max_skew_s):
        return _refuse(401, "stale", {**context, "notifyMs": event.notify_ms})
    try:
        outcome = submit(
            state.redis,
            state.events_queue,
            Submission(event.notice_id, event.stream, event.body, now_ms),
            dedupe_ttl_s=state.settings.ncs_dedupe_ttl_s,
            policy=state.job_policy,
            max_drainers=state.settings.drain_concurrency,
            replication=Replication(
                state.settings.redis_min_replicas, state.settings.redis_wait_timeout_ms
            ),
        )
    except RedisError as exc:
        CALLBACKS.labels("unavailable").inc()
        log.error("ncs.unavailable", extra={**context, "error": type(exc).__name__})
        return jsonify({"error": "unavailable"}), 503, {"Retry-After": RETRY_AFTER_S}
    CALLBACKS.labels(outcome).inc()
    if outcome == "accepted":
        EVENTS.labels(str(event.product_id), str(event.event_type)).inc()
    log.info(f"ncs.{outcome}", extra=context)
    return Response(_ANSWERS[outcome], content_type="application/json")
