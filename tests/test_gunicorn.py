"""The real gunicorn from the Procfile's `web` command, over real HTTP."""

from __future__ import annotations

import http.client
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis as redis_lib
import requests

from tests.support import processes
from tests.support.ncs import SECRET, encode, recording_event, signed_headers
from tests.support.redis_server import free_port
from tests.support.workers import run_burst
from workers import sessions

pytestmark = pytest.mark.integration


@pytest.fixture
def web(redis_url: str, redis: redis_lib.Redis) -> Iterator[str]:
    port = free_port()
    env = {"PORT": str(port), "REDIS_URL": redis_url, "AGORA_NCS_SECRET": f"old,{SECRET}"}
    process = processes.start("web", env)
    base = f"http://127.0.0.1:{port}"
    try:
        processes.wait_http(f"{base}/healthz", process)
        yield base
    finally:
        processes.stop(process)


def test_signed_events_through_gunicorn_reach_the_session(web: str, redis: redis_lib.Redis) -> None:
    sid = "gunicorn-sid"
    with requests.Session() as http:
        for seq, event_type in enumerate([40, 43, 41, 11]):
            body = encode(recording_event(event_type, sid=sid, sequence=seq))
            answer = http.post(f"{web}/agora/ncs", data=body, headers=signed_headers(body))
            assert (answer.status_code, answer.json()) == (200, {"status": "accepted"})
            again = http.post(f"{web}/agora/ncs", data=body, headers=signed_headers(body))
            assert again.json() == {"status": "duplicate"}
        bad = http.post(f"{web}/agora/ncs", data=body, headers=signed_headers(body, "nope"))
        assert (bad.status_code, bad.json()) == (401, {"error": "invalid_signature"})
        assert http.get(f"{web}/readyz").json()["status"] == "ok"
    run_burst(redis)
    session = sessions.load(redis, sid)
    assert session is not None
    assert session["state"] == "exited"
    assert session["last_sequence"] == 3


def test_oversized_chunked_body_is_refused(web: str) -> None:
    host, port = web.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.putrequest("POST", "/agora/ncs")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    chunk = b" " * 65536
    try:
        for _ in range(20):  # 1.25 MiB
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may close as soon as it has refused
    response = conn.getresponse()
    assert response.status == 413
    conn.close()


def test_oversized_declared_body_is_refused_unread(web: str) -> None:
    host, port = web.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.putrequest("POST", "/agora/ncs")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(50 * 1024 * 1024))
    conn.endheaders()  # the 50 MiB are never sent: an answer proves the body was not awaited
    response = conn.getresponse()
    assert response.status == 413
    conn.close()


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "AGORA_NCS_SECRET"),
        ({"AGORA_NCS_SECRET": "s", "STORAGE_VENDOR": "s3"}, "STORAGE_VENDOR"),
    ],
)
def test_web_refuses_to_start_naming_the_variable(env: dict[str, str], variable: str) -> None:
    process = processes.start("web", {"PORT": str(free_port()), **env})
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        processes.stop(process)
        pytest.fail("gunicorn started with a bad configuration")
    _, err = processes.stop(process)
    assert process.returncode != 0
    lines = [line for line in err.splitlines() if "recbridge: cannot start" in line]
    assert len(lines) == 1
    assert lines[0].startswith(f"recbridge: cannot start: {variable}: ")


def test_latency_is_reported(web: str) -> None:
    # Not a speed assertion: it proves the figure in the README can be reproduced.
    with requests.Session() as http:
        start = time.perf_counter()
        for _ in range(50):
            body = encode(recording_event(43))
            assert http.post(f"{web}/agora/ncs", data=body, headers=signed_headers(body)).ok
        per_request_ms = (time.perf_counter() - start) * 1000 / 50
    print(f"\nmean signed-callback round trip through gunicorn: {per_request_ms:.2f} ms")


def test_a_stop_writes_no_logging_errors(redis_url: str) -> None:
    port = free_port()
    env = {"PORT": str(port), "REDIS_URL": redis_url, "AGORA_NCS_SECRET": SECRET}
    process = processes.start("web", env)
    try:
        processes.wait_http(f"http://127.0.0.1:{port}/healthz", process)
    finally:
        out, err = processes.stop(process)
    assert process.returncode == 0
    assert "Shutting down: Master" in err
    assert "Logging error" not in out + err
