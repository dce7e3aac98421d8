"""rq-dashboard (queues, jobs, workers, failed jobs) at /rq, behind the ops token.

Browsers cannot send a bearer token, so the dashboard also takes HTTP Basic auth with the
ops token as the password (any user name); the browser asks for it.
"""

from __future__ import annotations

import base64
import binascii
import hmac

import rq_dashboard
from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from rq_dashboard.web import setup_rq_connection

from config.settings import Settings
from webhook.auth import require_ops_token

PREFIX = "/rq"


def _basic_password() -> str | None:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2]


def register_dashboard(app: Flask, settings: Settings) -> None:
    app.config["RQ_DASHBOARD_REDIS_URL"] = settings.redis_url
    setup_rq_connection(app)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=PREFIX)

    @app.before_request
    def guard_dashboard() -> ResponseReturnValue | None:
        if request.blueprint != rq_dashboard.blueprint.name:
            return None
        token = settings.ops_api_token
        if token is None:
            return require_ops_token()  # answers 503: the ops API is disabled
        password = _basic_password()
        if password is not None:
            if hmac.compare_digest(password.encode(), token.reveal().encode()):
                return None
        elif require_ops_token() is None:
            return None  # a valid bearer token
        response = jsonify({"error": "unauthorized", "message": "the ops token is the password"})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Basic realm="recbridge"'
        return response
