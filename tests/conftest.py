"""Test harness: a real redis-server (own, on a free port, unless REDIS_URL is set)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis as redis_lib
from flask import Flask
from flask.testing import FlaskClient

from config.settings import Secret, Settings
from tests.support.ncs import SECRET
from tests.support.redis_server import RedisServer
from webhook import create_app

OPS_TOKEN = "test-ops-token-77c1"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    given = os.environ.get("REDIS_URL")
    if given:
        yield given  # must be a disposable database: every test flushes it
        return
    server = RedisServer().start()
    try:
        yield server.url
    finally:
        server.cleanup()


@pytest.fixture
def redis(redis_url: str) -> Iterator[redis_lib.Redis]:
    client = redis_lib.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return Settings(
        redis_url=redis_url,
        ncs_secrets=(Secret(SECRET),),
        ops_api_token=Secret(OPS_TOKEN),
    )


@pytest.fixture
def app(settings: Settings, redis: redis_lib.Redis) -> Flask:
    return create_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
