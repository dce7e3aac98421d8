"""REDIS_URL: every topology form read, every malformed one refused by name, and no
password ever printed."""

from __future__ import annotations

import logging

import pytest

from config.logging import configure_logging
from config.redis_url import (
    DirectTarget,
    SentinelTarget,
    describe_redis_url,
    parse_redis_url,
    redis_url_secrets,
)
from config.settings import Settings, SettingsError
from workers.redis_conn import connect_url


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("redis://127.0.0.1:6379/0", DirectTarget("redis://127.0.0.1:6379/0")),
        (
            "rediss://app:pw@redis.example:6380/2",
            DirectTarget("rediss://app:pw@redis.example:6380/2"),
        ),
        (
            "redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26380/mymaster/3",
            SentinelTarget(
                (("10.0.0.1", 26379), ("10.0.0.2", 26380)), "mymaster", 3, None, "s3cret", False
            ),
        ),
        (
            "redis+sentinel://app:p%40ss@[::1]:5000,sentinel-b/svc",
            SentinelTarget((("::1", 5000), ("sentinel-b", 26379)), "svc", 0, "app", "p@ss", False),
        ),
        (
            "rediss+sentinel://s1:26379/svc",
            SentinelTarget((("s1", 26379),), "svc", 0, None, None, True),
        ),
    ],
)
def test_every_topology_form_is_read(url: str, target: object) -> None:
    assert parse_redis_url(url) == target


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:6379", "expected a redis://"),
        ("redis://127.0.0.1:99999/0", "invalid port"),
        ("redis://127.0.0.1/zero", "database must be a number"),
        ("redis+sentinel://s1:26379", "expected /<service_name>"),
        ("redis+sentinel://s1:26379/svc/one", "database must be a number"),
        ("redis+sentinel://s1:port/svc", "invalid port"),
        ("redis+sentinel:///svc", "names no sentinel"),
        ("redis+sentinel://hunter2@s1/svc", "user:password@"),
    ],
)
def test_a_malformed_url_is_refused_by_name(url: str, message: str) -> None:
    with pytest.raises(SettingsError, match="REDIS_URL: .*" + message) as caught:
        Settings.from_env({"REDIS_URL": url})
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://app:hunter2@h:6379/0", "redis://app:***@h:6379/0"),
        ("rediss://:hunter2@h/0?password=hunter2&ssl_cert_reqs=none", None),
        (
            "redis+sentinel://app:hunter2@s1:1,s2:2/svc/1",
            "redis+sentinel://app:***@s1:1,s2:2/svc/1",
        ),
        ("redis+sentinel://:hunter2@s1/svc", "redis+sentinel://:***@s1/svc"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("unix:///run/redis.sock?db=1", "unix:///run/redis.sock?db=1"),
    ],
)
def test_the_printer_never_shows_a_password(url: str, shown: str | None) -> None:
    printed = describe_redis_url(url)
    assert "hunter2" not in printed
    if shown is not None:
        assert printed == shown


def test_the_password_is_redacted_from_logs(capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings.from_env({"REDIS_URL": "redis+sentinel://app:p%40ss@s1/svc"})
    assert set(redis_url_secrets(settings.redis_url)) == {"p@ss", "p%40ss"}
    configure_logging("INFO", settings.secret_values())
    logging.getLogger("recbridge.test").info("url", extra={"url": settings.redis_url})
    line = capsys.readouterr().out
    assert "s1/svc" in line and "p%40ss" not in line


def test_replication_settings() -> None:
    settings = Settings.from_env({"REDIS_MIN_REPLICAS": "1", "REDIS_WAIT_TIMEOUT_MS": "500"})
    assert (settings.redis_min_replicas, settings.redis_wait_timeout_ms) == (1, 500)
    assert (Settings().redis_min_replicas, Settings().redis_wait_timeout_ms) == (0, 250)
    with pytest.raises(SettingsError, match=r"REDIS_MIN_REPLICAS: .*non-negative"):
        Settings.from_env({"REDIS_MIN_REPLICAS": "-1"})


def test_a_sentinel_url_builds_a_client_that_asks_the_sentinels() -> None:
    client = connect_url("redis+sentinel://:pw@127.0.0.1:1,127.0.0.1:2/svc/4")
    pool = client.connection_pool
    assert pool.service_name == "svc"  # type: ignore[attr-defined]
    assert pool.connection_kwargs["db"] == 4
    assert pool.connection_kwargs["password"] == "pw"
    assert [
        s.connection_pool.connection_kwargs["port"] for s in pool.sentinel_manager.sentinels
    ] == [1, 2]  # type: ignore[attr-defined]
