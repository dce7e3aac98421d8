"""One JSON error shape for every refusal."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

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

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> ResponseReturnValue:
        log.exception("web.unhandled_error")
        return error(500, "internal")
