"""POST /agora/ncs: verify, validate, queue, answer. Nothing else happens here."""

from __future__ import annotations

import logging
import time

from flask import Blueprint, abort, jsonify, request
from flask.typing import ResponseReturnValue
from redis import RedisError

from webhook import signature
from webhook.context import app_state
from webhook.errors import error
from webhook.events import InvalidEvent, is_stale, parse_event
from workers.inbox import Submission, submit

MAX_BODY_BYTES = 1024 * 1024
RETRY_AFTER_S = "5"

log = logging.getLogger("recbridge.ncs")
ncs_bp = Blueprint("ncs", __name__)


def _read_body() -> bytes:
    """The raw body, at most MAX_BODY_BYTES.

    A declared Content-Length over the limit is refused by Werkzeug before anything is read
    (the app's MAX_CONTENT_LENGTH is one byte more than the limit); a chunked body is read
    until it passes the limit, then refused.
    """
    chunks, size = [], 0
    while size <= MAX_BODY_BYTES:
        chunk = request.stream.read(MAX_BODY_BYTES + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > MAX_BODY_BYTES:
        abort(413)
    return b"".join(chunks)


@ncs_bp.post("/agora/ncs")
def receive_callback() -> ResponseReturnValue:
    state = app_state()
    raw = _read_body()
    if not signature.verify(raw, request.headers, state.ncs_secrets):
        log.warning("ncs.invalid_signature", extra={"bytes": len(raw)})
        return error(401, "invalid_signature")
    if request.mimetype != "application/json":
        log.warning("ncs.unsupported_media_type", extra={"content_type": request.content_type})
        return error(415, "unsupported_media_type", message="Content-Type must be application/json")
    try:
        event = parse_event(raw)
    except InvalidEvent as exc:
        log.warning("ncs.invalid_event", extra={"fields": exc.fields})
        return error(400, "invalid_event", fields=exc.fields)
    context = {
        "noticeId": event.notice_id,
        "sid": event.sid,
        "cname": event.cname,
        "eventType": event.event_type,
        "productId": event.product_id,
    }
    now_ms = int(time.time() * 1000)
    if is_stale(event, now_ms, state.settings.ncs_max_skew_s):
        log.warning("ncs.stale", extra={**context, "notifyMs": event.notify_ms})
        return error(401, "stale")
    try:
        outcome = submit(
            state.redis,
            state.events_queue,
            Submission(event.notice_id, event.stream, event.body, now_ms),
            dedupe_ttl_s=state.settings.ncs_dedupe_ttl_s,
            failure_ttl_s=state.settings.job_failure_ttl_s,
        )
    except RedisError as exc:
        log.error("ncs.unavailable", extra={**context, "error": type(exc).__name__})
        response = jsonify({"error": "unavailable"})
        return response, 503, {"Retry-After": RETRY_AFTER_S}
    log.info(f"ncs.{outcome}", extra=context)
    return jsonify({"status": outcome})
