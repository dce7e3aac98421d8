"""The ops API for dead letters: jobs that failed for good, and their replay."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from marshmallow import Schema, ValidationError, fields, validate

from webhook.api import MAX_LIMIT, invalid_request, load_query
from webhook.auth import require_ops_token
from webhook.context import app_state
from webhook.errors import error
from workers import deadletters

ops_bp = Blueprint("ops", __name__, url_prefix="/api/dead-letters")
ops_bp.before_request(require_ops_token)
ops_bp.register_error_handler(ValidationError, invalid_request)


class LetterQuery(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_LIMIT))


LETTER_QUERY = LetterQuery()


@ops_bp.get("")
def list_dead_letters() -> ResponseReturnValue:
    query: dict[str, Any] = load_query(LETTER_QUERY)
    letters = deadletters.list_letters(app_state().redis, query["limit"])
    return jsonify({"dead_letters": letters, "count": len(letters)})


@ops_bp.post("/<letter_id>/replay")
def replay_dead_letter(letter_id: str) -> ResponseReturnValue:
    state = app_state()
    letter = deadletters.replay(state.redis, letter_id, state.job_policy)
    if letter is None:
        return error(404, "not_found", message=f"no dead letter {letter_id!r}")
    return jsonify(letter), 202
