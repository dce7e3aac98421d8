"""The ops API for recordings: ask for one, list them, show one, stop one."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import Schema, ValidationError, fields, validate

from webhook.api import MAX_LIMIT, invalid_request, load_query
from webhook.auth import require_ops_token
from webhook.context import AppState, app_state
from webhook.errors import error
from workers import jobs, recordings
from workers.agora.bodies import InvalidRequest
from workers.control import request_recording
from workers.control.updating import Finished, request_uids

recordings_bp = Blueprint("recordings", __name__, url_prefix="/api/recordings")
recordings_bp.before_request(require_ops_token)
recordings_bp.register_error_handler(ValidationError, invalid_request)

_UID = validate.Regexp(r"^[0-9]{1,10}$", error="must be a decimal uid")


class RecordingRequest(Schema):
    cname = fields.String(required=True, validate=validate.Length(min=1, max=63))
    uids = fields.List(
        fields.String(validate=_UID), validate=validate.Length(min=1, max=32), allow_none=True
    )
    max_idle_time = fields.Integer(strict=True, validate=validate.Range(min=5, max=2_592_000))


class RecordingQuery(Schema):
    state = fields.String(validate=validate.OneOf(recordings.RECORDING_STATES))
    cname = fields.String(validate=validate.Length(min=1, max=63))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_LIMIT))


class RecordingChange(Schema):
    uids = fields.List(
        fields.String(validate=_UID),
        validate=validate.Length(min=1, max=32),
        required=True,
        allow_none=True,
    )


RECORDING_REQUEST = RecordingRequest()
RECORDING_CHANGE = RecordingChange()
RECORDING_QUERY = RecordingQuery()


@recordings_bp.post("")
def ask_for_recording() -> ResponseReturnValue:
    state = app_state()
    if not state.settings.recording_enabled:
        return error(503, "recording_disabled", message="AGORA_APP_ID is not set")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error(400, "invalid_request", fields={"_body": ["Body must be a JSON object."]})
    wanted: dict[str, Any] = RECORDING_REQUEST.load(body)
    try:
        recording = ask_for_start(state, wanted, "api")
    except InvalidRequest as exc:
        return error(400, "invalid_request", fields={"_body": [str(exc)]})
    return jsonify(recordings.public_view(recording)), 202


def ask_for_start(state: AppState, wanted: dict[str, Any], source: str) -> dict[str, Any]:
    """Store the request (validated by ``RECORDING_REQUEST``) and queue its start; the API
    and the console both ask through here. Raises ``InvalidRequest``."""
    recording, created = request_recording(
        state.redis,
        state.settings,
        wanted["cname"],
        wanted.get("uids"),
        wanted.get("max_idle_time"),
        source,
    )
    if created:
        jobs.enqueue(state.redis, state.job_policy, jobs.RUN_START, recording["id"])
    return recording


def ask_for_stop(state: AppState, recording: dict[str, Any]) -> dict[str, Any]:
    """Queue the stop of an unfinished recording; the API and the console both ask through
    here. The request is noted on the recording at once (``stop_requested_ms``), so the
    answer and every later read show that a stop is on its way while the state moves only
    when the job acts."""
    if recording["state"] in recordings.FINAL:
        return recording
    noted = recordings.update(state.redis, recording["id"], _note_stop_request)
    jobs.enqueue(state.redis, state.job_policy, jobs.RUN_STOP, recording["id"])
    return noted


def _note_stop_request(recording: dict[str, Any]) -> None:
    if recording.get("stop_requested_ms") is None:
        recording["stop_requested_ms"] = recordings.now_ms()


@recordings_bp.get("")
def list_recordings() -> ResponseReturnValue:
    query = load_query(RECORDING_QUERY)
    found = recordings.list_recordings(
        app_state().redis, cname=query.get("cname"), state=query.get("state"), limit=query["limit"]
    )
    return jsonify({"recordings": [recordings.public_view(r) for r in found], "count": len(found)})


@recordings_bp.get("/<recording_id>")
def get_recording(recording_id: str) -> ResponseReturnValue:
    recording = recordings.load(app_state().redis, recording_id)
    if recording is None:
        return error(404, "not_found", message=f"no recording {recording_id!r}")
    return jsonify(recordings.public_view(recording))


@recordings_bp.post("/<recording_id>/stop")
def stop_recording(recording_id: str) -> ResponseReturnValue:
    state = app_state()
    recording = recordings.load(state.redis, recording_id)
    if recording is None:
        return error(404, "not_found", message=f"no recording {recording_id!r}")
    recording = ask_for_stop(state, recording)
    return jsonify(recordings.public_view(recording)), 202


@recordings_bp.patch("/<recording_id>")
def change_recording(recording_id: str) -> ResponseReturnValue:
    """``{"uids": [...]}`` (or null for every uid): the live task follows (Agora ``update``)."""
    state = app_state()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error(400, "invalid_request", fields={"_body": ["Body must be a JSON object."]})
    wanted: dict[str, Any] = RECORDING_CHANGE.load(body)
    try:
        changed = request_uids(state.redis, state.settings, recording_id, wanted["uids"])
    except InvalidRequest as exc:
        return error(400, "invalid_request", fields={"uids": [str(exc)]})
    except Finished as exc:
        return error(409, "finished", message=str(exc))
    if changed is None:
        return error(404, "not_found", message=f"no recording {recording_id!r}")
    return jsonify(recordings.public_view(changed)), 202
