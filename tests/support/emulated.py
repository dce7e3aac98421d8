"""The service wired to a running Agora emulator, as `make run` does, for end-to-end tests."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests

from tests.support import processes
from tests.support.ncs import SECRET
from tests.support.redis_server import free_port
from tests.support.service import Service, run_service

APP_ID = "emulatedapp0000000000000000000001"
CUSTOMER_ID, CUSTOMER_SECRET = "cust-id-e2e", "cust-secret-e2e-5d1"
STORAGE_ACCESS_KEY, STORAGE_SECRET_KEY = "storage-ak-e2e-91f", "storage-sk-e2e-0c3"
TIME_SCALE = 0.05  # emulator pacing and Agora's documented waits, shrunk 20 times


@dataclass
class Emulated:
    service: Service
    emulator: str
    http: requests.Session

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.http.request(
            method, f"{self.service.base}{path}", headers=self.service.auth, timeout=10, **kwargs
        )

    def faults(self, **faults: Any) -> None:
        self.http.post(
            f"{self.emulator}/_emulator/faults", json=faults, timeout=5
        ).raise_for_status()

    def stats(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.http.get(f"{self.emulator}/_emulator/stats", timeout=5).json()
        return answer

    def wait_for(self, what: str, check: Callable[[], Any], timeout_s: float = 30) -> Any:
        """Poll ``check`` until it returns something truthy."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(f"timed out waiting for {what}")

    def recording(self, recording_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.api("GET", f"/api/recordings/{recording_id}").json()
        return answer

    def recording_in(
        self, recording_id: str, *states: str, timeout_s: float = 30
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            recording = self.recording(recording_id)
            return recording if recording["state"] in states else None

        result: dict[str, Any] = self.wait_for(f"recording in {states}", check, timeout_s)
        return result

    def session_in(self, sid: str, *states: str, timeout_s: float = 30) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            answer = self.api("GET", f"/api/sessions/{sid}")
            return answer.json() if answer.ok and answer.json()["state"] in states else None

        result: dict[str, Any] = self.wait_for(f"session in {states}", check, timeout_s)
        return result


def recording_env(emulator_port: int, web_port: int, **extra: str) -> dict[str, str]:
    return {
        "AGORA_APP_ID": APP_ID,
        "AGORA_CUSTOMER_ID": CUSTOMER_ID,
        "AGORA_CUSTOMER_SECRET": CUSTOMER_SECRET,
        "AGORA_API_BASE": f"http://127.0.0.1:{emulator_port}",
        "STORAGE_VENDOR": "1",
        "STORAGE_REGION": "0",
        "STORAGE_BUCKET": "e2e-bucket",
        "STORAGE_ACCESS_KEY": STORAGE_ACCESS_KEY,
        "STORAGE_SECRET_KEY": STORAGE_SECRET_KEY,
        "STORAGE_FILE_PREFIX": "e2e/audio",
        "AGORA_RETRY_SCALE": str(TIME_SCALE),
        "RECORDING_POLL_S": "2",
        "RECORDING_START_CONFIRM_S": "3",
        "EMULATOR_PORT": str(emulator_port),
        "EMULATOR_TIME_SCALE": str(TIME_SCALE),
        "EMULATOR_CALLBACK_URL": f"http://127.0.0.1:{web_port}/agora/ncs",
        "AGORA_NCS_SECRET": SECRET,
        **extra,
    }


@contextlib.contextmanager
def run_emulated(
    redis_url: str, *, workers: int = 2, two_domains: bool = False, **extra: str
) -> Iterator[Emulated]:
    emulator_port, web_port = free_port(), free_port()
    if two_domains:  # the emulator tells its "domains" apart by the Host header
        bases = f"http://localhost:{emulator_port},http://127.0.0.1:{emulator_port}"
        extra = {"AGORA_API_BASES": bases, **extra}
    env = recording_env(emulator_port, web_port, PORT=str(web_port), **extra)
    emulator = processes.start_module("emulator", env)
    emulator_url = f"http://127.0.0.1:{emulator_port}"
    try:
        processes.wait_http(f"{emulator_url}/_emulator/healthz", emulator)
        with run_service(redis_url, env, workers=workers) as service, requests.Session() as http:
            yield Emulated(service, emulator_url, http)
    finally:
        processes.stop(emulator)
