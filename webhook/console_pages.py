"""The console's pages. Each reads through the functions the ``/api/*`` routes use, so the
console and the API show the same truth; changes go through the same calls too."""

from __future__ import annotations

import time
from typing import Any

from flask import abort, redirect, request, url_for
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError

from webhook import console_views as views
from webhook.api import SESSION_QUERY
from webhook.api_endpoints import MESSAGE_QUERY
from webhook.api_endpoints import STATUSES as MESSAGE_STATUSES
from webhook.api_ops import LETTER_QUERY
from webhook.api_recordings import RECORDING_QUERY, RECORDING_REQUEST, ask_for_start, ask_for_stop
from webhook.console import console_bp, note, render_page
from webhook.context import app_state
from workers import deadletters, keys, ops_status, recordings, session_queries, transitions
from workers.agora.bodies import InvalidRequest
from workers.control.updating import Finished, request_uids
from workers.notify import endpoints as notify_endpoints
from workers.notify import outbox as notify_outbox
from workers.notify import store as notify_store

__all__ = ["console_bp"]  # the blueprint, with these pages registered on it

NOTICES = {
    "started": "Recording requested: it becomes active once Agora answers start.",
    "stopping": "Stop requested.",
    "replayed": "Dead letter queued again.",
    "enabled": "Endpoint enabled: what waited for it is sent now.",
    "replaying": "Messages queued again, with their original webhook-id.",
    "uids": "Uids changed: the live task follows through Agora's update.",
}
REPLAY_WINDOWS_S = {"the last hour": 3600, "the last 24 hours": 86_400, "the last 7 days": 604_800}
TIMELINE_SHOWN = 400  # a long session shows its first and last events; ?events=all shows all


def _query(schema: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validated filters (the API's schema), and what was wrong with the rest."""
    given = {k: v for k, v in request.args.items() if v != "" and k != "notice"}
    try:
        return schema.load(given), {}
    except ValidationError as exc:
        messages: dict[str, Any] = exc.messages  # type: ignore[assignment]
        kept = {k: v for k, v in given.items() if k not in messages}
        return schema.load(kept), messages


def _notice() -> str | None:
    return NOTICES.get(request.args.get("notice", ""))


def _now_ms() -> int:
    return int(time.time() * 1000)


@console_bp.get("/")
def sessions() -> ResponseReturnValue:
    redis = app_state().redis
    query, problems = _query(SESSION_QUERY)
    found = session_queries.list_sessions(
        redis, state=query.get("state"), cname=query.get("cname"), limit=query["limit"]
    )
    counts = ops_status.state_counts(redis, keys.sessions_by_state, transitions.STATES)
    return render_page(
        "console/sessions.html",
        sessions=found,
        counts=counts,
        query=query,
        problems=problems,
        states=transitions.STATES,
        badges=views.badges,
        status=400 if problems else 200,
    )


@console_bp.get("/sessions/<sid>")
def session(sid: str) -> ResponseReturnValue:
    redis = app_state().redis
    found = session_queries.get_session(redis, sid)
    events = session_queries.session_events(redis, sid)
    if found is None and not events:
        abort(404)
    now = _now_ms()
    rows = views.timeline_rows(events)
    hidden, head = 0, TIMELINE_SHOWN // 4
    if request.args.get("events") != "all" and len(rows) > TIMELINE_SHOWN:
        hidden = len(rows) - TIMELINE_SHOWN
        rows = rows[:head] + rows[-(TIMELINE_SHOWN - head) :]
    recording = (
        recordings.load(redis, found["recording_id"])
        if found and found.get("recording_id")
        else None
    )
    return render_page(
        "console/session.html",
        sid=sid,
        session=found,
        recording=recording,
        rows=rows,
        hidden=hidden,
        head=head,
        total=len(events),
        lanes=views.lanes(found, events, now) if found else None,
        story=views.exit_story(found) if found else [],
        badges=views.badges(found) if found else [],
        now_ms=now,
    )


@console_bp.get("/recordings")
def recordings_page() -> ResponseReturnValue:
    return _recordings_page({}, {}, 200)


def _recordings_page(
    form: dict[str, str], errors: dict[str, Any], status: int
) -> ResponseReturnValue:
    state = app_state()
    query, problems = _query(RECORDING_QUERY)
    found = recordings.list_recordings(
        state.redis, cname=query.get("cname"), state=query.get("state"), limit=query["limit"]
    )
    counts = ops_status.state_counts(
        state.redis, keys.recordings_by_state, recordings.RECORDING_STATES
    )
    return render_page(
        "console/recordings.html",
        status=status,
        recordings=[recordings.public_view(r) for r in found],
        counts=counts,
        query=query,
        problems=problems,
        states=recordings.RECORDING_STATES,
        final=recordings.FINAL,
        form=form,
        errors=errors,
        enabled=state.settings.recording_enabled,
        default_idle=state.settings.recording_max_idle_time,
        notice=_notice(),
    )


@console_bp.post("/recordings")
def start_recording() -> ResponseReturnValue:
    state = app_state()
    form = {k: request.form.get(k, "").strip() for k in ("cname", "uids", "max_idle_time")}
    if not state.settings.recording_enabled:
        return _recordings_page(
            form, {"_form": ["Recording is disabled: AGORA_APP_ID is not set."]}, 503
        )
    wanted: dict[str, Any] = {"cname": form["cname"]}
    uids = [u for u in form["uids"].replace(",", " ").split() if u]
    if uids:
        wanted["uids"] = uids
    if form["max_idle_time"]:
        wanted["max_idle_time"] = (
            int(form["max_idle_time"]) if form["max_idle_time"].isdigit() else form["max_idle_time"]
        )
    try:
        recording = ask_for_start(state, RECORDING_REQUEST.load(wanted), "console")
    except ValidationError as exc:
        return _recordings_page(form, exc.messages, 400)  # type: ignore[arg-type]
    except InvalidRequest as exc:
        return _recordings_page(form, {"_form": [str(exc)]}, 400)
    return redirect(
        url_for("console.recording", recording_id=recording["id"], notice="started"), 303
    )


@console_bp.get("/recordings/<recording_id>")
def recording(recording_id: str, uids_error: str | None = None) -> ResponseReturnValue:
    redis = app_state().redis
    found = recordings.load(redis, recording_id)
    if found is None:
        abort(404)
    linked = []
    for sid in reversed(found.get("sids") or []):
        linked.append(session_queries.get_session(redis, sid) or {"sid": sid, "state": None})
    return render_page(
        "console/recording.html",
        400 if uids_error else 200,
        recording=recordings.public_view(found),
        sessions=linked,
        final=recordings.FINAL,
        badges=views.badges,
        notice=_notice(),
        uids_error=uids_error,
    )


@console_bp.post("/recordings/<recording_id>/uids")
def change_uids(recording_id: str) -> ResponseReturnValue:
    state = app_state()
    uids = [u for u in request.form.get("uids", "").replace(",", " ").split() if u]
    try:
        changed = request_uids(state.redis, state.settings, recording_id, uids or None)
    except (InvalidRequest, Finished) as exc:
        return recording(recording_id, uids_error=str(exc))
    if changed is None:
        abort(404)
    note("recording_uids", recording_id=recording_id, cname=changed["cname"])
    return redirect(url_for("console.recording", recording_id=recording_id, notice="uids"), 303)


@console_bp.post("/recordings/<recording_id>/stop")
def stop_recording(recording_id: str) -> ResponseReturnValue:
    state = app_state()
    found = recordings.load(state.redis, recording_id)
    if found is None:
        abort(404)
    ask_for_stop(state, found)
    note("recording_stop", recording_id=recording_id, cname=found["cname"])
    return redirect(url_for("console.recording", recording_id=recording_id, notice="stopping"), 303)


@console_bp.get("/dead-letters")
def dead_letters() -> ResponseReturnValue:
    query, problems = _query(LETTER_QUERY)
    letters = deadletters.list_letters(app_state().redis, query["limit"])
    return render_page(
        "console/dead_letters.html", letters=letters, problems=problems, notice=_notice()
    )


@console_bp.post("/dead-letters/<letter_id>/replay")
def replay_dead_letter(letter_id: str) -> ResponseReturnValue:
    state = app_state()
    if deadletters.replay(state.redis, letter_id, state.job_policy) is None:
        abort(404)
    note("dead_letter_replayed", dead_letter_id=letter_id)
    return redirect(url_for("console.dead_letters", notice="replayed"), 303)


@console_bp.get("/endpoints")
def endpoints() -> ResponseReturnValue:
    redis = app_state().redis
    found = notify_endpoints.list_all(redis)
    backlog = notify_store.backlog(redis, [e["id"] for e in found])
    rows = [{**e, "backlog": backlog[e["id"]]} for e in found]
    return render_page("console/endpoints.html", endpoints=rows, notice=_notice())


@console_bp.post("/endpoints/<endpoint_id>/enable")
def enable_endpoint(endpoint_id: str) -> ResponseReturnValue:
    redis = app_state().redis
    if notify_endpoints.set_disabled(redis, endpoint_id, None) is None:
        abort(404)
    notify_outbox.kick(redis, 1)
    note("endpoint_enable", endpoint_id=endpoint_id)
    return redirect(url_for("console.endpoint", endpoint_id=endpoint_id, notice="enabled"), 303)


@console_bp.get("/endpoints/<endpoint_id>")
def endpoint(endpoint_id: str) -> ResponseReturnValue:
    redis = app_state().redis
    found = notify_endpoints.load(redis, endpoint_id)
    if found is None:
        abort(404)
    query, problems = _query(MESSAGE_QUERY)
    messages = notify_store.messages(redis, endpoint_id, query.get("status"), query["limit"])
    return render_page(
        "console/endpoint.html",
        endpoint={**found, "backlog": notify_store.backlog(redis, [endpoint_id])[endpoint_id]},
        messages=messages,
        query=query,
        problems=problems,
        statuses=MESSAGE_STATUSES,
        windows=REPLAY_WINDOWS_S,
        notice=_notice(),
    )


@console_bp.post("/endpoints/<endpoint_id>/replay")
def replay_endpoint(endpoint_id: str) -> ResponseReturnValue:
    state = app_state()
    found = notify_endpoints.load(state.redis, endpoint_id)
    if found is None:
        abort(404)
    window_s = REPLAY_WINDOWS_S.get(request.form.get("since", ""))
    if window_s is None:
        return render_page(
            "console/refused.html", status=400, message="Choose how far back to replay."
        )
    since_ms = _now_ms() - window_s * 1000
    queued = notify_store.replay(state.redis, found, since_ms, state.settings.notify_retention_s)
    notify_outbox.kick(state.redis, queued)
    note("endpoint_replay", endpoint_id=endpoint_id, queued=queued)
    return redirect(url_for("console.endpoint", endpoint_id=endpoint_id, notice="replaying"), 303)


@console_bp.get("/health")
def health() -> ResponseReturnValue:
    state = app_state()
    redis_ok = ops_status.redis_status(state.redis)
    detail: dict[str, Any] = {}
    if redis_ok["ok"]:
        detail = {
            "workers": ops_status.workers(state.redis),
            "queues": ops_status.queues(state.redis),
            "qps": ops_status.qps_in_use(
                state.redis, state.settings.agora_app_id, state.settings.agora_qps
            ),
            "lag": ops_status.callback_lag(state.redis),
            "dead_letters": state.redis.zcard(keys.DEAD_LETTERS),
            "notify": _notify_summary(),
        }
    return render_page("console/health.html", redis=redis_ok, now_ms=_now_ms(), **detail)


def _notify_summary() -> dict[str, int]:
    redis = app_state().redis
    found = notify_endpoints.list_all(redis)
    waiting = notify_store.backlog(redis, [e["id"] for e in found])
    return {
        "endpoints": len(found),
        "disabled": sum(1 for e in found if e["disabled"]),
        "waiting": sum(waiting.values()),
    }


@console_bp.errorhandler(404)
def not_found(exc: Exception) -> ResponseReturnValue:
    return render_page("console/refused.html", status=404, message="Nothing here by that name.")
