"""The ops API: sessions (and, with recording control, recordings)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import Schema, ValidationError, fields, validate

from webhook.auth import require_ops_token
from webhook.context import app_state
from webhook.errors import error
from workers import session_queries, transitions

api_bp = Blueprint("api", __name__, url_prefix="/api")
api_bp.before_request(require_ops_token)

MAX_LIMIT = 500


class SessionQuery(Schema):
    state = fields.String(validate=validate.OneOf(transitions.STATES))
    cname = fields.String(validate=validate.Length(min=1, max=1024))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_LIMIT))


SESSION_QUERY = SessionQuery()


def load_query(schema: Schema) -> dict[str, Any]:
    """Validated query arguments; raises ValidationError naming the bad ones."""
    loaded: dict[str, Any] = schema.load(request.args.to_dict())
    return loaded


@api_bp.errorhandler(ValidationError)
def invalid_request(exc: ValidationError) -> ResponseReturnValue:
    return error(400, "invalid_request", fields=exc.messages)


@api_bp.get("/sessions")
def list_sessions() -> ResponseReturnValue:
    query = load_query(SESSION_QUERY)
    found = session_queries.list_sessions(
        app_state().redis, state=query.get("state"), cname=query.get("cname"), limit=query["limit"]
    )
    return jsonify({"sessions": found, "count": len(found)})


@api_bp.get("/sessions/<sid>")
def get_session(sid: str) -> ResponseReturnValue:
    session = session_queries.get_session(app_state().redis, sid)
    if session is None:
        return error(404, "not_found", message=f"no session {sid!r}")
    return jsonify(session)


@api_bp.get("/sessions/<sid>/events")
def session_events(sid: str) -> ResponseReturnValue:
    events = session_queries.session_events(app_state().redis, sid)
    if not events:
        return error(404, "not_found", message=f"no events for session {sid!r}")
    return jsonify({"sid": sid, "events": events})
