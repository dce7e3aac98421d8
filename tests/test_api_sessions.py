"""The ops API for sessions, over HTTP (Flask's test client)."""

from __future__ import annotations

import pytest
import redis as redis_lib
from flask.testing import FlaskClient

from config.settings import Secret, Settings
from tests.conftest import OPS_TOKEN
from tests.support.lifecycle import lifecycle
from tests.support.ncs import encode, recording_event, signed_headers
from tests.support.workers import run_burst
from webhook import create_app

AUTH = {"Authorization": f"Bearer {OPS_TOKEN}"}


def post_all(client: FlaskClient, events: list[dict]) -> None:  # type: ignore[type-arg]
    for event in events:
        body = encode(event)
        assert client.post("/agora/ncs", data=body, headers=signed_headers(body)).status_code == 200


@pytest.mark.parametrize("path", ["/api/sessions", "/api/sessions/x", "/api/sessions/x/events"])
@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {OPS_TOKEN}", "Bearer"])
def test_refused_without_the_token(client: FlaskClient, path: str, header: str | None) -> None:
    response = client.get(path, headers={"Authorization": header} if header else {})
    assert (response.status_code, response.json["error"]) == (401, "unauthorized")


def test_disabled_without_a_configured_token(settings: Settings, redis: redis_lib.Redis) -> None:
    app = create_app(Settings(redis_url=settings.redis_url, ncs_secrets=(Secret("s"),)))
    response = app.test_client().get("/api/sessions", headers=AUTH)
    assert (response.status_code, response.json["error"]) == (503, "ops_api_disabled")


def test_list_filter_and_show(client: FlaskClient, redis: redis_lib.Redis) -> None:
    post_all(client, lifecycle("DONE", cname="a"))
    post_all(client, [recording_event(40, sid="LIVE", cname="b", sendts=1_800_000_000_000)])
    run_burst(redis)
    listed = client.get("/api/sessions", headers=AUTH).json
    assert [s["sid"] for s in listed["sessions"]] == ["LIVE", "DONE"]  # newest first
    by_state = client.get("/api/sessions?state=recording", headers=AUTH).json
    assert [s["sid"] for s in by_state["sessions"]] == ["LIVE"]
    by_cname = client.get("/api/sessions?cname=a&state=exited", headers=AUTH).json
    assert [s["sid"] for s in by_cname["sessions"]] == ["DONE"]
    assert client.get("/api/sessions?limit=1", headers=AUTH).json["count"] == 1
    done = client.get("/api/sessions/DONE", headers=AUTH).json
    assert (done["state"], done["upload_status"], done["exit_status"]) == ("exited", "uploaded", 0)
    assert set(done["files_by_uid"]) == {"101", "202", "303"}
    assert set(done["streams"]) == {"101", "202", "303"}


def test_events_in_sequence_order_with_copies_folded(
    client: FlaskClient, redis: redis_lib.Redis
) -> None:
    events = lifecycle("EV")
    redundant = dict(events[3], noticeId="another-id-same-event")
    post_all(client, [*reversed(events), redundant])
    run_burst(redis)
    shown = client.get("/api/sessions/EV/events", headers=AUTH).json["events"]
    assert [e["sequence"] for e in shown] == list(range(len(events)))
    assert shown[0]["msgName"] == "recorder_started"


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=501", "limit"), ("limit=x", "limit"), ("state=paused", "state")],
)
def test_bad_query_names_the_field(client: FlaskClient, query: str, field: str) -> None:
    response = client.get(f"/api/sessions?{query}", headers=AUTH)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"
    assert field in response.json["fields"]


def test_unknown_session_is_404(client: FlaskClient) -> None:
    assert client.get("/api/sessions/nope", headers=AUTH).status_code == 404
    assert client.get("/api/sessions/nope/events", headers=AUTH).status_code == 404
