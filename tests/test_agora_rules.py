"""Agora's rules, as pure functions: answers, request bodies, tokens, the rate limit."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
import redis as redis_lib
from agoraiotools.AccessToken2 import AccessToken

from config.settings import Secret, Settings, SettingsError
from workers.agora import bodies
from workers.agora.answers import Meaning, Retry, judge
from workers.agora.tokens import recorder_token
from workers.ratelimit import SharedRateLimit

SETTINGS = Settings(
    agora_app_id="970CA35de60c44645bbae8a215061b33",
    storage_vendor=1,
    storage_region=3,
    storage_bucket="b",
    storage_access_key=Secret("ak"),
    storage_secret_key=Secret("sk"),
    storage_file_prefix=("dir1", "dir2"),
)


@pytest.mark.parametrize(
    ("status", "body", "meaning", "retry"),
    [
        (201, {"code": 7, "reason": "already started"}, Meaning.ALREADY_STARTED, Retry.NEVER),
        (206, {"code": 435}, Meaning.NOTHING_RECORDED, Retry.NEVER),
        (206, {"code": 65}, Meaning.NOT_COMPLETED, Retry.START_SCHEDULE),
        (400, {"code": 49}, Meaning.ALREADY_STOPPING, Retry.NEVER),
        (400, {"code": 433}, Meaning.RESOURCE_EXPIRED, Retry.NEW_RESOURCE),
        (400, {"code": 1001}, Meaning.RESOURCE_EXPIRED, Retry.NEW_RESOURCE),
        (404, {"code": 1001}, Meaning.RESOURCE_EXPIRED, Retry.NEW_RESOURCE),
        (400, {"code": 53}, Meaning.TASK_CONFLICT, Retry.NEW_RESOURCE),
        (400, {"code": 2, "reason": "invalid"}, Meaning.CONFIGURATION, Retry.NEVER),
        (400, {"message": "appid is invalid"}, Meaning.CONFIGURATION, Retry.NEVER),
        (401, {"message": "Unauthorized"}, Meaning.CONFIGURATION, Retry.NEVER),
        (
            404,
            {"code": 404, "reason": "failed to find worker"},
            Meaning.NOT_FOUND,
            Retry.FAILOVER_SCHEDULE,
        ),
        (
            404,
            {"message": "no Route matched with those values"},
            Meaning.CONFIGURATION,
            Retry.NEVER,
        ),
        (429, {"message": "API rate limit exceeded"}, Meaning.RATE_LIMITED, Retry.BACKOFF),
        (500, {"code": 500}, Meaning.SERVER, Retry.BACKOFF),
        (500, {"code": 502}, Meaning.NO_WORKER, Retry.NEW_RESOURCE),
        (504, {"code": 62}, Meaning.SERVER, Retry.BACKOFF),
        (503, "not json", Meaning.SERVER, Retry.BACKOFF),
        (None, None, Meaning.NETWORK, Retry.BACKOFF),
    ],
)
def test_the_answer_table(status: int | None, body: object, meaning: Meaning, retry: Retry) -> None:
    verdict = judge(status, body)
    assert (verdict.meaning, verdict.retry) == (meaning, retry)


def test_start_body_is_individual_audio_non_transcoding() -> None:
    body = bodies.start_body(SETTINGS, "room", "527841", ["1", "2", "3"], 300, None)
    config = body["clientRequest"]["recordingConfig"]
    assert config == {
        "channelType": 0,
        "streamTypes": 0,
        "streamMode": "original",
        "maxIdleTime": 300,
        "subscribeAudioUids": ["1", "2", "3"],
        "subscribeUidGroup": 1,
    }
    storage = body["clientRequest"]["storageConfig"]
    assert storage["fileNamePrefix"] == ["dir1", "dir2"]
    assert (storage["accessKey"], storage["secretKey"]) == ("ak", "sk")
    assert "token" not in body["clientRequest"]
    everyone = bodies.start_body(SETTINGS, "room", "1", None, 30, "tok")
    assert everyone["clientRequest"]["recordingConfig"]["subscribeAudioUids"] == ["#allstream#"]
    assert everyone["clientRequest"]["token"] == "tok"


def test_raw_mode_has_no_stream_mode() -> None:
    raw = Settings(**{**SETTINGS.__dict__, "agora_recording_mode": "raw"})
    config = bodies.start_body(raw, "room", "1", ["2"], 300, None)["clientRequest"]
    assert "streamMode" not in config["recordingConfig"]


@pytest.mark.parametrize(
    ("count", "group"),
    [(1, 0), (2, 0), (3, 1), (7, 1), (8, 2), (12, 2), (13, 3), (17, 3), (18, 4), (32, 4), (33, 5)],
)
def test_subscribe_uid_group(count: int, group: int) -> None:
    assert bodies.subscribe_uid_group(count) == group


def test_update_uses_agoras_capital_s_spelling() -> None:
    body = bodies.update_body("room", "1", None, ["5"])
    assert body["clientRequest"]["streamSubscribe"]["audioUidList"] == {
        "unSubscribeAudioUids": ["5"]
    }
    with pytest.raises(bodies.InvalidRequest):
        bodies.update_body("room", "1", ["1"], ["2"])


@pytest.mark.parametrize("prefix", [("a_b",), ("a/b",), ("x" * 129,), ("",)])
def test_file_prefix_is_checked_before_any_call(prefix: tuple[str, ...]) -> None:
    with pytest.raises(bodies.InvalidRequest):
        bodies.check_file_prefix(prefix)


def test_acquire_body() -> None:
    body = bodies.acquire_body(SETTINGS, "room", "42", ["old-resource"])
    assert body == {
        "cname": "room",
        "uid": "42",
        "clientRequest": {
            "scene": 0,
            "resourceExpiredHour": 72,
            "excludeResourceIds": ["old-resource"],
        },
    }


def test_recorder_token_is_an_access_token2_for_the_uid() -> None:
    assert recorder_token(SETTINGS, "room", "527841") is None  # no certificate: no token
    certified = Settings(
        **{**SETTINGS.__dict__, "agora_app_certificate": Secret("5CFd2fd1755d40ecb72977518be15d3b")}
    )
    token = recorder_token(certified, "room", "527841")
    assert token is not None and token.startswith("007")
    parsed = AccessToken()
    assert parsed.from_string(token)
    assert parsed._AccessToken__app_id.decode() == SETTINGS.agora_app_id  # type: ignore[attr-defined]
    assert parsed._AccessToken__expire == certified.recorder_token_ttl_s  # type: ignore[attr-defined]


def test_shared_rate_limit_holds_across_clients(redis: redis_lib.Redis) -> None:
    limiters = [
        SharedRateLimit(redis_lib.Redis(connection_pool=redis.connection_pool), "app", 10)
        for _ in range(4)
    ]
    sent: list[float] = []
    lock = threading.Lock()

    def burst(limiter: SharedRateLimit) -> None:
        for _ in range(8):
            limiter.acquire()
            with lock:
                sent.append(time.monotonic())

    threads = [threading.Thread(target=burst, args=(limiter,)) for limiter in limiters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent.sort()
    peak = max(sum(1 for t in sent if start <= t < start + 1.0) for start in sent)
    assert len(sent) == 32
    assert peak <= 10


def test_sts_token_and_extension_params_reach_storage_config() -> None:
    sts = dataclasses.replace(
        SETTINGS,
        storage_sts_token=Secret("sts"),
        storage_sts_expiration=1_900_000_000,
        storage_extension_params=(("sse", "kms"), ("tag", "RETENTION_DAYS=30")),
    )
    storage = bodies.storage_config(sts)
    assert (storage["stsToken"], storage["stsExpiration"]) == ("sts", 1_900_000_000)
    assert storage["extensionParams"] == {"sse": "kms", "tag": "RETENTION_DAYS=30"}
    assert "sts" in sts.secret_values()
    with pytest.raises(bodies.InvalidRequest, match="vendors 1, 2 and 3"):
        bodies.storage_config(dataclasses.replace(sts, storage_vendor=6))
    with pytest.raises(bodies.InvalidRequest, match="endpoint"):
        bodies.storage_config(dataclasses.replace(SETTINGS, storage_vendor=11))
    compatible = dataclasses.replace(
        SETTINGS, storage_vendor=11, storage_extension_params=(("endpoint", "s3.example"),)
    )
    assert bodies.storage_config(compatible)["extensionParams"] == {"endpoint": "s3.example"}
    parsed = Settings.from_env({"STORAGE_EXTENSION_PARAMS": "sse=kms, tag=A=1"})
    assert parsed.storage_extension_params == (("sse", "kms"), ("tag", "A=1"))
    with pytest.raises(SettingsError, match="STORAGE_EXTENSION_PARAMS"):
        Settings.from_env({"STORAGE_EXTENSION_PARAMS": "colour=blue"})
