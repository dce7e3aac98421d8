"""One JSON error shape for every refusal."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from redis import RedisError
from werkzeug.exceptions import HTTPException

from workers.faults import redis_fault

log = logging.getLogger("recbridge.web")

_ERROR_NAMES = {413: "too_large", 404: "not_found", 405: "method_not_allowed"}


def error(status: int, name: str, **extra: Any) -> ResponseReturnValue:
    return jsonify({"error": name, **extra}), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        status = exc.code or 500
        name = _ERROR_NAMES.get(status, (exc.name or "error").lower().replace(" ", "_"))
        response = exc.get_response()
        body = {"error": name, "message": exc.description}
        headers = {k: v for k, v in response.headers.items() if k.lower() == "allow"}
        return jsonify(body), status, headers

    @app.errorhandler(RedisError)
    def redis_unavailable(exc: RedisError) -> ResponseReturnValue:
        # Redis down, failing over, read-only or full: a fault to retry, never a 500.
        log.error("web.redis_unavailable", extra={"fault": redis_fault(exc)})
        return jsonify({"error": "unavailable"}), 503, {"Retry-After": "5"}

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> ResponseReturnValue:
        log.exception("web.unhandled_error")
        return error(500, "internal")
