"""Bearer-token guard of the ops API."""

from __future__ import annotations

import hmac

from flask import request
from flask.typing import ResponseReturnValue

from webhook.context import app_state
from webhook.errors import error


def require_ops_token() -> ResponseReturnValue | None:
    """A ``before_request`` hook: None lets the request through."""
    token = app_state().settings.ops_api_token
    if token is None:
        return error(503, "ops_api_disabled", message="OPS_API_TOKEN is not set")
    given = request.headers.get("Authorization", "")
    scheme, _, credential = given.partition(" ")
    expected = token.reveal().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        credential.strip().encode("utf-8", "replace"), expected
    ):
        return error(401, "unauthorized", message="send Authorization: Bearer <OPS_API_TOKEN>")
    return None
