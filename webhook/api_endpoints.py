"""The ops API for notification endpoints: register, list, rotate, replay, enable, remove.

A signing secret appears only in the answers to create and rotate-secret.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import Schema, ValidationError, fields, validate

from webhook.api import MAX_LIMIT, invalid_request, load_query
from webhook.auth import require_ops_token
from webhook.context import app_state
from webhook.errors import error
from workers.notify import endpoints, outbox, store

endpoints_bp = Blueprint("endpoints", __name__, url_prefix="/api/endpoints")
endpoints_bp.before_request(require_ops_token)
endpoints_bp.register_error_handler(ValidationError, invalid_request)

STATUSES = ("pending", "delivered", "failed")


class MessageQuery(Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_LIMIT))


class ReplayRequest(Schema):
    since_ms = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))


MESSAGE_QUERY = MessageQuery()
REPLAY_REQUEST = ReplayRequest()


def _body() -> dict[str, Any] | None:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


def _not_found(endpoint_id: str) -> ResponseReturnValue:
    return error(404, "not_found", message=f"no endpoint {endpoint_id!r}")


def _refused(exc: endpoints.EndpointError) -> ResponseReturnValue:
    if exc.field == "NOTIFY_SIGNING_KEY":
        return error(503, "notifications_disabled", message=f"{exc.field} {exc}")
    return error(400, "invalid_request", fields={exc.field: [str(exc)]})


@endpoints_bp.post("")
def create_endpoint() -> ResponseReturnValue:
    body = _body()
    if body is None:
        return error(400, "invalid_request", fields={"_body": ["Body must be a JSON object."]})
    if "url" not in body:
        return error(400, "invalid_request", fields={"url": ["Missing data for required field."]})
    state = app_state()
    try:
        endpoint, secret = endpoints.create(
            state.redis,
            state.settings,
            body["url"],
            body.get("event_types"),
            body.get("description"),
        )
    except endpoints.EndpointError as exc:
        return _refused(exc)
    return jsonify({**endpoint, "secret": secret}), 201


@endpoints_bp.get("")
def list_endpoints() -> ResponseReturnValue:
    redis = app_state().redis
    found = endpoints.list_all(redis)
    backlog = store.backlog(redis, [e["id"] for e in found])
    rows = [{**e, "backlog": backlog[e["id"]]} for e in found]
    return jsonify({"endpoints": rows, "count": len(rows)})


@endpoints_bp.get("/<endpoint_id>")
def get_endpoint(endpoint_id: str) -> ResponseReturnValue:
    redis = app_state().redis
    endpoint = endpoints.load(redis, endpoint_id)
    if endpoint is None:
        return _not_found(endpoint_id)
    return jsonify({**endpoint, "backlog": store.backlog(redis, [endpoint_id])[endpoint_id]})


@endpoints_bp.delete("/<endpoint_id>")
def delete_endpoint(endpoint_id: str) -> ResponseReturnValue:
    if not endpoints.delete(app_state().redis, endpoint_id):
        return _not_found(endpoint_id)
    return "", 204


@endpoints_bp.post("/<endpoint_id>/rotate-secret")
def rotate_secret(endpoint_id: str) -> ResponseReturnValue:
    state = app_state()
    if endpoints.load(state.redis, endpoint_id) is None:
        return _not_found(endpoint_id)
    try:
        rotated = endpoints.rotate(state.redis, state.settings, endpoint_id)
    except endpoints.EndpointError as exc:
        return _refused(exc)
    if rotated is None:
        return _not_found(endpoint_id)
    endpoint, secret = rotated
    return jsonify({**endpoint, "secret": secret})


@endpoints_bp.get("/<endpoint_id>/messages")
def list_messages(endpoint_id: str) -> ResponseReturnValue:
    query = load_query(MESSAGE_QUERY)
    redis = app_state().redis
    if endpoints.load(redis, endpoint_id) is None:
        return _not_found(endpoint_id)
    found = store.messages(redis, endpoint_id, query.get("status"), query["limit"])
    return jsonify({"messages": found, "count": len(found)})


@endpoints_bp.post("/<endpoint_id>/replay")
def replay(endpoint_id: str) -> ResponseReturnValue:
    body = _body()
    if body is None:
        return error(400, "invalid_request", fields={"_body": ["Body must be a JSON object."]})
    wanted = REPLAY_REQUEST.load(body)
    state = app_state()
    endpoint = endpoints.load(state.redis, endpoint_id)
    if endpoint is None:
        return _not_found(endpoint_id)
    queued = store.replay(
        state.redis, endpoint, wanted["since_ms"], state.settings.notify_retention_s
    )
    outbox.kick(state.redis, queued)
    return jsonify({"endpoint_id": endpoint_id, "queued": queued}), 202


@endpoints_bp.post("/<endpoint_id>/enable")
def enable(endpoint_id: str) -> ResponseReturnValue:
    redis = app_state().redis
    endpoint = endpoints.set_disabled(redis, endpoint_id, None)
    if endpoint is None:
        return _not_found(endpoint_id)
    outbox.kick(redis, 1)  # what waited while it was disabled is due again
    return jsonify(endpoint)
