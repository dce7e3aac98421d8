"""Recovery: a Redis outage with workers running, and a worker killed with work in hand."""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest
import requests

from tests.support.lifecycle import lifecycle
from tests.support.ncs import encode, signed_headers
from tests.support.redis_server import RedisServer
from tests.support.service import Service, run_service

pytestmark = [pytest.mark.integration, pytest.mark.reliability]


def post_all(service: Service, events: list[dict[str, Any]]) -> None:
    for event in events:
        body = encode(event)
        answer = requests.post(
            f"{service.base}/agora/ncs", data=body, headers=signed_headers(body), timeout=10
        )
        assert answer.status_code == 200, answer.text


def exited_within(service: Service, sid: str, timeout_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        answer = requests.get(f"{service.base}/api/sessions/{sid}", headers=service.auth, timeout=5)
        if answer.ok and answer.json()["state"] == "exited":
            return time.monotonic() - started
        time.sleep(0.1)
    raise TimeoutError(f"{sid} was not applied within {timeout_s} s")


def test_outage_and_a_dead_worker_are_recovered_without_restarts() -> None:
    server = RedisServer(appendonly=True).start()
    try:
        with run_service(server.url, workers=1) as service:
            post_all(service, lifecycle("before-outage"))
            exited_within(service, "before-outage", 20)
            (worker,) = service.workers

            server.stop()
            body = encode(lifecycle("during-outage")[0])
            down = requests.post(
                f"{service.base}/agora/ncs", data=body, headers=signed_headers(body), timeout=10
            )
            assert (down.status_code, down.json(), down.headers["Retry-After"]) == (
                503,
                {"error": "unavailable"},
                "5",
            )
            assert requests.get(f"{service.base}/readyz", timeout=5).status_code == 503
            server.start()

            post_all(service, lifecycle("after-outage"))
            exited_within(service, "after-outage", 30)
            assert worker.poll() is None  # the same worker process, never restarted

            # A worker frozen and then killed while events wait for it: a new worker takes
            # them over once the dead one's lease runs out.
            worker.send_signal(signal.SIGSTOP)
            post_all(service, lifecycle("orphaned"))
            worker.kill()
            worker.wait()
            killed_at = time.monotonic()
            service.add_worker()
            exited_within(service, "orphaned", 60)
            recovered_s = time.monotonic() - killed_at
            assert recovered_s < 60
            print(
                f"\nrecovery: events of a killed worker applied {recovered_s:.1f} s after its death"
            )
    finally:
        server.cleanup()
