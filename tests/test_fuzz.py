"""Hostile input: never a 500, never a state change without a valid signature."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
import redis as redis_lib
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import OPS_TOKEN
from tests.support.ncs import VALID_DETAILS, encode, recording_event, signed_headers
from webhook.events import MAX_DEPTH
from webhook.signature import V1_HEADER, V2_HEADER

pytestmark = pytest.mark.reliability
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
ALLOWED = {200, 400, 401, 405, 413, 415}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def mutated_event(data: st.DataObject) -> dict[str, Any]:
    """A real event with some fields dropped, retyped or added, anywhere in it."""
    event = recording_event(data.draw(st.sampled_from(sorted(VALID_DETAILS))))
    targets = [event, event["payload"], event["payload"]["details"]]
    for _ in range(data.draw(st.integers(1, 4))):
        target = data.draw(st.sampled_from(targets))
        key = data.draw(st.sampled_from([*target.keys(), "extra"]))
        if data.draw(st.booleans()):
            target.pop(key, None)
        else:
            target[key] = data.draw(json_values)
    return event


def state_snapshot(redis: redis_lib.Redis) -> set[bytes]:
    return {k for k in redis.keys("*") if not k.startswith(b"rb:readyz")}


@FUZZ
@given(body=st.binary(max_size=2000))
def test_random_bytes_signed_or_not(
    client: FlaskClient, redis: redis_lib.Redis, body: bytes
) -> None:
    before = state_snapshot(redis)
    unsigned = client.post("/agora/ncs", data=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401 and state_snapshot(redis) == before
    signed = client.post("/agora/ncs", data=body, headers=signed_headers(body))
    assert signed.status_code in ALLOWED and signed.is_json
    if signed.status_code != 200:
        assert state_snapshot(redis) == before


@FUZZ
@given(data=st.data())
def test_mutated_events(client: FlaskClient, redis: redis_lib.Redis, data: st.DataObject) -> None:
    body = encode(mutated_event(data))
    before = state_snapshot(redis)
    answer = client.post("/agora/ncs", data=body, headers=signed_headers(body))
    assert answer.status_code in ALLOWED, answer.get_data()
    if answer.status_code == 400:
        assert answer.json["error"] == "invalid_event" and answer.json["fields"]
    if answer.status_code != 200:
        assert state_snapshot(redis) == before
    forged = client.post("/agora/ncs", data=body, headers=signed_headers(body, "forged"))
    assert forged.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b'{"noticeId":"' + b"x" * 900_000 + b'"}',
        b'{"n":' + b"9" * 100_000 + b"}",
        b'{"n":1e999999}',
        b'{"noticeId":"\xed\xa0\x80"}',  # a lone surrogate in UTF-8
        b"\x00" * 1000,
    ],
)
def test_pathological_bodies(client: FlaskClient, redis: redis_lib.Redis, body: bytes) -> None:
    answer = client.post("/agora/ncs", data=body, headers=signed_headers(body))
    assert answer.status_code == 400 and answer.json["error"] == "invalid_event"
    assert redis.dbsize() == 0


def test_header_abuse(client: FlaskClient, redis: redis_lib.Redis) -> None:
    body = encode(recording_event(40))
    good = signed_headers(body)
    for headers in (
        [(V2_HEADER, "0" * 64), (V2_HEADER, good[V2_HEADER]), ("Content-Type", "application/json")],
        [(V2_HEADER, "x" * 8000), (V1_HEADER, "y" * 8000), ("Content-Type", "application/json")],
        [(V2_HEADER, good[V2_HEADER].upper()), ("Content-Type", "application/json")],
    ):
        answer = client.post("/agora/ncs", data=body, headers=headers)
        assert answer.status_code in {200, 401}
    assert (
        client.post(
            "/agora/ncs",
            data=body,
            headers={**good, "Content-Type": "application/json; charset=utf-8"},
        ).status_code
        == 200
    )


def api_routes(app: Flask) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<int:[^>]+>", "0", rule.rule)
            path = re.sub(r"<path:[^>]+>", "x.js", path)
            path = re.sub(r"<[^>]+>", "x", path)
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                routes.append((method, path))
    return routes


def test_every_api_route_refuses_without_the_token(app: Flask, client: FlaskClient) -> None:
    routes = api_routes(app)
    assert len(routes) >= 9
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer "}):
            answer = client.open(path, method=method, headers=headers, follow_redirects=True)
            assert answer.status_code == 401, (method, path, answer.status_code)


@FUZZ
@given(
    path=st.sampled_from(
        [
            "/api/sessions",
            "/api/recordings",
            "/api/dead-letters",
            "/api/sessions/x",
            "/api/sessions/x/events",
            "/api/recordings/x",
            "/api/recordings/x/stop",
            "/api/dead-letters/x/replay",
        ]
    ),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    query=st.dictionaries(
        st.sampled_from(["state", "cname", "limit", "x"]), st.text(max_size=30), max_size=3
    ),
    body=json_values,
)
def test_api_never_fails_on_any_input(
    client: FlaskClient,
    redis: redis_lib.Redis,
    path: str,
    method: str,
    query: dict[str, str],
    body: Any,
) -> None:
    answer = client.open(
        path,
        method=method,
        query_string=query,
        data=orjson.dumps(body),
        headers={"Authorization": f"Bearer {OPS_TOKEN}", "Content-Type": "application/json"},
    )
    assert answer.status_code < 500 or answer.status_code == 503, answer.get_data()
    assert answer.is_json


def _nested_event(levels: int, *, known: bool) -> bytes:
    """A signed event ``levels`` deep: envelope, payload, details, then a chain of arrays.

    Built as bytes: orjson cannot write more than 255 levels.
    """
    event = recording_event(40)
    if not known:
        event["productId"] = 9
    chain = b"[" * (levels - 3) + b"]" * (levels - 3)
    return encode(event).replace(b'"details":{', b'"details":{"deep":' + chain + b",", 1)


@pytest.mark.parametrize("known", [True, False])
@pytest.mark.parametrize("levels", [63, 64, 65, 66, 254, 255, 256, 257, 1023, 1024, 1025, 1026])
def test_depth_around_every_limit(
    client: FlaskClient, redis: redis_lib.Redis, levels: int, known: bool
) -> None:
    """One limit (64), checked before anything is stored; orjson's 255 and 1024 never show."""
    body = _nested_event(levels, known=known)
    before = state_snapshot(redis)
    answer = client.post("/agora/ncs", data=body, headers=signed_headers(body))
    if levels <= MAX_DEPTH:
        assert answer.json == {"status": "accepted"}
    else:
        assert answer.status_code == 400, answer.get_data()
        assert answer.json["fields"] == {
            "_body": [f"Body is nested deeper than {MAX_DEPTH} levels."]
        }
        assert state_snapshot(redis) == before
