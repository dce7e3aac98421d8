"""Operating recbridge as its operators would: metrics, dead letters through the CLI, worker
health, and no secret anywhere, against the real service and the emulator."""

from __future__ import annotations

import contextlib
import re
import zlib
from typing import Any

import orjson
import pytest
import redis as redis_lib

from tests.conftest import OPS_TOKEN
from tests.support import processes
from tests.support.emulated import (
    CUSTOMER_SECRET,
    STORAGE_ACCESS_KEY,
    STORAGE_SECRET_KEY,
    Emulated,
    recording_env,
    run_emulated,
)
from tests.support.ncs import SECRET, encode, recording_event, signed_headers

pytestmark = pytest.mark.integration
CERTIFICATE = "c3rt1f1cate0000e2e0000distinct9z"
SECRETS = (SECRET, OPS_TOKEN, CUSTOMER_SECRET, STORAGE_ACCESS_KEY, STORAGE_SECRET_KEY, CERTIFICATE)


def metric(emulated: Emulated, name: str) -> float:
    text = emulated.http.get(f"{emulated.service.base}/metrics", timeout=5).text
    match = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def redis_dump(redis: redis_lib.Redis) -> list[bytes]:
    """Every value in Redis, job payloads decompressed."""
    values: list[bytes] = []
    for key in redis.scan_iter(count=1000):
        kind = redis.type(key)
        if kind == b"string":
            values.append(redis.get(key) or b"")
        elif kind == b"hash":
            values.extend(redis.hgetall(key).values())
        elif kind == b"list":
            values.extend(redis.lrange(key, 0, -1))
        elif kind == b"zset":
            values.extend(redis.zrange(key, 0, -1))
        elif kind == b"set":
            values.extend(redis.smembers(key))
        values.append(key)
    expanded = []
    for value in values:
        expanded.append(value)
        with contextlib.suppress(zlib.error):
            expanded.append(zlib.decompress(value))
    return expanded


def test_operating_a_lifecycle_with_failures(redis_url: str, redis: redis_lib.Redis) -> None:
    env: dict[str, Any] = {"AGORA_APP_CERTIFICATE": CERTIFICATE, "JOB_RETRY_INTERVALS_S": "1"}
    cli_outputs: list[str] = []
    with run_emulated(redis_url, **env) as emulated:
        cli_env = {"REDIS_URL": redis_url, **processes.process_env({}), **_service_env(emulated)}

        def cli(*args: str) -> Any:
            done = processes.run_cli(list(args), cli_env)
            cli_outputs.extend([done.stdout, done.stderr])
            return done

        before = metric(emulated, 'recbridge_ncs_callbacks_total{outcome="accepted"}')
        emulated.faults(duplicates=1.0)
        recording = emulated.api("POST", "/api/recordings", json={"cname": "ops"}).json()
        sid = emulated.recording_in(recording["id"], "active")["sid"]
        emulated.session_in(sid, "recording")
        bad = encode(recording_event(40))
        emulated.http.post(
            f"{emulated.service.base}/agora/ncs",
            data=bad,
            headers=signed_headers(bad, "not-the-secret"),
        )

        # A stop that fails for good (Agora answering 500 through every retry)...
        emulated.faults(duplicates=0.0, server_errors=1000)
        emulated.api("POST", f"/api/recordings/{recording['id']}/stop")
        letters = emulated.wait_for(
            "a dead letter", lambda: emulated.api("GET", "/api/dead-letters").json()["dead_letters"]
        )
        assert letters[0]["func"] == "workers.control.run_stop"
        assert "server" in letters[0]["error"] or "500" in letters[0]["error"]
        listed = cli("dead-letters", "list", "--json")
        assert listed.returncode == 0 and orjson.loads(listed.stdout)[0]["id"] == letters[0]["id"]
        # ...succeeds once Agora is back and an operator replays it.
        emulated.faults(server_errors=0)
        replayed = cli("dead-letters", "replay", "--all")
        assert replayed.returncode == 0, replayed.stderr
        assert "replayed 1 of 1" in replayed.stdout
        emulated.recording_in(recording["id"], "stopped")
        emulated.session_in(sid, "exited")

        for name in (
            'recbridge_ncs_callbacks_total{outcome="duplicate"}',
            'recbridge_ncs_callbacks_total{outcome="invalid_signature"}',
            'recbridge_agora_requests_total{endpoint="start",outcome="ok"}',
            'recbridge_agora_requests_total{endpoint="stop",outcome="server"}',
            'recbridge_agora_requests_total{endpoint="stop",outcome="ok"}',
            'recbridge_recordings{state="stopped"}',
            "recbridge_dead_letters",
            'recbridge_dead_letters_total{func="workers.control.run_stop"}',
            "recbridge_event_apply_latency_seconds_count",
            "recbridge_agora_rate_limit_wait_seconds_count",
        ):
            assert metric(emulated, name) >= 1, name
        assert metric(emulated, 'recbridge_ncs_callbacks_total{outcome="accepted"}') > before + 10

        table = cli("sessions", "list")
        assert table.returncode == 0 and sid in table.stdout and "exited" in table.stdout
        assert cli("recordings", "show", recording["id"]).returncode == 0
        assert "recbridge-events" in cli("health").stdout
        assert cli("worker-health").returncode == 0
        api_answers = [
            emulated.api("GET", path).text
            for path in (
                "/api/recordings",
                f"/api/recordings/{recording['id']}",
                "/api/sessions",
                f"/api/sessions/{sid}",
                f"/api/sessions/{sid}/events",
                "/api/dead-letters",
                "/rq/0/data/queues.json",
                "/rq/0/data/workers.json",
            )
        ]
        api_answers.append(emulated.http.get(f"{emulated.service.base}/metrics", timeout=5).text)
        emulated_logs = emulated.service.logs
    assert cli("worker-health", "--max-age", "0.001").returncode == 1

    outputs = [text for pair in emulated_logs for text in pair] + cli_outputs + api_answers
    assert any('"event":"ncs.accepted"' in text for text in outputs)
    for secret in SECRETS:
        assert not [t for t in outputs if secret in t], f"a secret is in the logs: {secret[:4]}…"
        assert not [v for v in redis_dump(redis) if secret.encode() in v], (
            f"a secret is in Redis: {secret[:4]}…"
        )


def _service_env(emulated: Emulated) -> dict[str, str]:
    port = int(emulated.emulator.rsplit(":", 1)[1])
    return recording_env(port, 0, AGORA_APP_CERTIFICATE=CERTIFICATE)
