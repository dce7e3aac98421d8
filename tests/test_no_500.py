"""No input gives a 500: deep JSON on every JSON route, the old dashboard's URLs."""

from __future__ import annotations

import dataclasses

import pytest
from flask import Flask
from flask.testing import FlaskClient

from config.settings import Secret, Settings
from tests.conftest import OPS_TOKEN
from webhook import create_app

AUTH = {"Authorization": f"Bearer {OPS_TOKEN}"}


@pytest.fixture
def recording_app(settings: Settings) -> Flask:
    # Recording control and notifications switched on, so that every JSON route parses its body.
    return create_app(
        dataclasses.replace(
            settings, agora_app_id="app", notify_signing_key=Secret("test-notify-signing-key")
        )
    )


def json_routes(app: Flask) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        methods = (rule.methods or set()) & {"POST", "PUT", "PATCH"}
        if rule.rule.startswith("/api/") and methods:
            path = rule.rule.replace("<", "").replace(">", "")
            routes.extend((method, path) for method in sorted(methods))
    return routes


@pytest.mark.parametrize(
    "body", [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 5000 + b"1" + b"}" * 5000]
)
def test_deep_json_on_every_api_route(recording_app: Flask, body: bytes) -> None:
    client = recording_app.test_client()
    routes = json_routes(recording_app)
    assert routes
    for method, path in routes:
        answer = client.open(
            path, method=method, data=body, headers={**AUTH, "Content-Type": "application/json"}
        )
        assert answer.status_code < 500, (method, path, answer.status_code)


@pytest.mark.parametrize(
    "path", ["/rq/5/", "/rq/0/data/job/x.json", "/rq/", "/nowhere", "/api/nowhere"]
)
def test_unknown_urls_answer_json_404(client: FlaskClient, path: str) -> None:
    answer = client.get(path, headers=AUTH)
    assert answer.status_code == 404 and answer.is_json
