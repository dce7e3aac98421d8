"""Notifications end to end: gunicorn, real worker processes, the Agora emulator over HTTP,
and a receiving server that verifies every message with ``standardwebhooks``."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_lib

from tests.support import processes
from tests.support.emulated import Emulated, run_emulated
from tests.support.receiver import Receiver

pytestmark = pytest.mark.integration

SIGNING_KEY = "e2e-signing-key-0b7d5e2a91"
NOTIFY_ENV = {
    "NOTIFY_SIGNING_KEY": SIGNING_KEY,
    "NOTIFY_RETRY_SCHEDULE_S": "1,1,2",
    "NOTIFY_TIMEOUT_S": "3",
    "RECORDING_MAX_RESTARTS": "1",
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def add_endpoint(emulated: Emulated, receiver: Receiver) -> dict[str, Any]:
    answer = emulated.api("POST", "/api/endpoints", json={"url": receiver.url})
    assert answer.status_code == 201, answer.text
    endpoint: dict[str, Any] = answer.json()
    receiver.secrets.append(endpoint["secret"])
    return endpoint


def start(emulated: Emulated, cname: str, **body: Any) -> str:
    asked = emulated.api("POST", "/api/recordings", json={"cname": cname, **body})
    assert asked.status_code == 202, asked.text
    return str(asked.json()["id"])


def types_for(receiver: Receiver, key: str, value: str) -> set[str]:
    return {r.body["type"] for r in receiver.snapshot() if r.body["data"].get(key) == value}


def test_the_lifecycle_tells_the_application_everything(
    redis_url: str, redis: redis_lib.Redis, receiver: Receiver
) -> None:
    with run_emulated(redis_url, **NOTIFY_ENV) as emulated:
        endpoint = add_endpoint(emulated, receiver)
        plain = start(emulated, "notified", uids=["11", "22"])
        sid = emulated.recording_in(plain, "active")["sid"]
        emulated.session_in(sid, "recording")
        emulated.api("POST", f"/api/recordings/{plain}/stop")
        emulated.recording_in(plain, "stopped")
        emulated.session_in(sid, "exited")

        emulated.faults(abnormal_exit=True)
        crashy = start(emulated, "crashy", uids=["9"])
        emulated.wait_for(
            f"a restart of {crashy}",
            lambda: emulated.recording(crashy)["restarts"] == 1,
            timeout_s=90,
        )
        emulated.recording_in(crashy, "active")
        emulated.api("POST", f"/api/recordings/{crashy}/stop")
        emulated.recording_in(crashy, "stopped")

        emulated.faults(server_errors=10_000)  # Agora never lets it start
        broken = start(emulated, "broken")
        emulated.recording_in(broken, "failed", timeout_s=60)
        emulated.faults(server_errors=0)

        expected_plain = {"recording.active", "recording.stopped"}
        expected_session = {"session.exited", "session.files_uploaded", "stream.audio_changed"}
        receiver.wait_for(
            "the plain recording's messages",
            lambda _: (
                expected_plain <= types_for(receiver, "recording_id", plain)
                and expected_session <= types_for(receiver, "sid", sid)
            ),
        )
        receiver.wait_for(
            "the crashing recording's messages",
            lambda _: (
                {"recording.active", "recording.restarting", "recording.stopped"}
                <= types_for(receiver, "recording_id", crashy)
                and "recording.failed" in types_for(receiver, "recording_id", broken)
            ),
        )
        got = receiver.snapshot()
        assert all(r.verified_by == [0] for r in got)
        uploaded = next(r for r in got if r.body["type"] == "session.files_uploaded")
        assert set(uploaded.body["data"]["files_by_uid"]) == {"11", "22"}
        audio = [r for r in got if r.body["type"] == "stream.audio_changed"]
        assert {r.body["data"]["uid"] for r in audio if r.body["data"]["sid"] == sid} >= {
            "11",
            "22",
        }

        # Each change of one object raises its version: later facts carry higher ones.
        def version(kind: str, key: str, value: str) -> int:
            return max(
                r.body["data"]["version"]
                for r in got
                if r.body["type"] == kind and r.body["data"].get(key) == value
            )

        assert version("recording.active", "recording_id", plain) < version(
            "recording.stopped", "recording_id", plain
        )
        assert version("recording.restarting", "recording_id", crashy) < version(
            "recording.stopped", "recording_id", crashy
        )
        assert version("session.exited", "sid", sid) <= version(
            "session.files_uploaded", "sid", sid
        )
        listed = emulated.api("GET", f"/api/endpoints/{endpoint['id']}/messages?limit=500")
        assert {m["id"] for m in listed.json()["messages"]} == {r.webhook_id for r in got}
        metrics = emulated.http.get(f"{emulated.service.base}/metrics", timeout=10).text
        assert (
            f'recbridge_notify_attempts_total{{endpoint="{endpoint["id"]}",outcome="delivered"}}'
            in metrics
        )
        assert f'recbridge_notify_backlog{{endpoint="{endpoint["id"]}"}}' in metrics
    logs = "".join(out + err for out, err in emulated.service.logs)
    assert got[0].webhook_id in logs  # deliveries are logged by webhook-id ...
    assert endpoint["secret"] not in logs and SIGNING_KEY not in logs  # ... never a secret
    assert endpoint["secret"].removeprefix("whsec_") not in logs


def test_a_worker_killed_mid_delivery_loses_nothing(
    redis_url: str, redis: redis_lib.Redis, receiver: Receiver
) -> None:
    receiver.hold_s, receiver.hold_count = 2.0, 1  # the first delivery is in flight for 2 s
    with run_emulated(redis_url, workers=1, **NOTIFY_ENV) as emulated:
        add_endpoint(emulated, receiver)
        recording = start(emulated, "killed", uids=["3"])
        emulated.recording_in(recording, "active")
        assert receiver.arrived.wait(30)
        [worker] = emulated.service.workers
        worker.send_signal(signal.SIGKILL)  # while the receiver holds the first delivery
        worker.wait()
        emulated.service.add_worker()
        emulated.api("POST", f"/api/recordings/{recording}/stop")
        emulated.recording_in(recording, "stopped", timeout_s=60)
        got = receiver.wait_for(
            "the held message again, and the rest",
            lambda r: (
                {x.body["type"] for x in r} >= {"recording.active", "recording.stopped"}
                and len([x for x in r if x.body["type"] == "recording.active"]) >= 2
                and r
            ),
            timeout_s=60,
        )
        active = [r for r in got if r.body["type"] == "recording.active"]
        assert len({r.webhook_id for r in active}) == 1  # the same id on the second attempt
        assert all(r.verified_by == [0] for r in got)
        assert processes.output(worker)  # the killed worker's output is readable
