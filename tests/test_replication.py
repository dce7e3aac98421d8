"""REDIS_MIN_REPLICAS: a 200 (accepted or duplicate) only once a replica has the event."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator

import pytest
import redis as redis_lib
from flask.testing import FlaskClient

from config.settings import Settings
from tests.support.ncs import encode, recording_event, signed_headers
from tests.support.redis_server import RedisServer
from webhook import create_app
from workers import keys, periodic

pytestmark = pytest.mark.integration


@pytest.fixture
def replica(redis_url: str, redis: redis_lib.Redis) -> Iterator[redis_lib.Redis]:
    server = RedisServer()
    server.extra_args = [
        "--replicaof",
        "127.0.0.1",
        str(redis.connection_pool.connection_kwargs["port"]),
    ]
    server.start()
    client = redis_lib.Redis(port=server.port)
    try:
        while client.info("replication").get("master_link_status") != "up":
            threading.Event().wait(0.05)
        yield client
    finally:
        server.cleanup()


def _client(settings: Settings, min_replicas: int, timeout_ms: int) -> FlaskClient:
    changed = dataclasses.replace(
        settings, redis_min_replicas=min_replicas, redis_wait_timeout_ms=timeout_ms
    )
    return create_app(changed).test_client()


def _post(client: FlaskClient, notice_id: str) -> tuple[int, object, str | None]:
    body = encode(recording_event(40, sid="repl-1", notice_id=notice_id))
    answer = client.post("/agora/ncs", data=body, headers=signed_headers(body))
    return answer.status_code, answer.get_json(), answer.headers.get("Retry-After")


def test_without_a_replica_the_event_is_kept_but_not_acknowledged(
    settings: Settings, redis: redis_lib.Redis
) -> None:
    client = _client(settings, 1, 100)  # no replica: it can only time out
    assert _post(client, "n-1") == (503, {"error": "unavailable"}, "5")
    assert redis.exists(keys.notice_marker("n-1"))  # stored on the primary all the same
    # The resend is a duplicate, and still not acknowledged: it is not on a replica yet.
    assert _post(client, "n-1") == (503, {"error": "unavailable"}, "5")


def test_with_a_replica_accepted_and_duplicate_are_acknowledged(
    settings: Settings, redis: redis_lib.Redis, replica: redis_lib.Redis
) -> None:
    client = _client(settings, 1, 2000)  # a loaded machine may take a while to ack
    assert _post(client, "n-2")[:2] == (200, {"status": "accepted"})
    assert replica.exists(keys.notice_marker("n-2"))  # on the replica before the 200
    assert _post(client, "n-2")[:2] == (200, {"status": "duplicate"})
    # Two replicas asked, one there: refused.
    assert _post(_client(settings, 2, 100), "n-3")[0] == 503


def test_a_slot_is_claimed_once_however_many_ask(redis_url: str, redis: redis_lib.Redis) -> None:
    interval = 10**9  # one slot for the whole test, whatever the clock says
    answers: list[bool] = []
    lock = threading.Lock()

    def ask() -> None:
        won = periodic.claim(redis_lib.Redis.from_url(redis_url), "t", interval)
        with lock:
            answers.append(won)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [False] * 7 + [True]
    redis.set(keys.periodic_claim("t"), 0)  # the last claim was an earlier slot
    assert periodic.claim(redis, "t", interval) is True
    assert redis.ttl(keys.periodic_claim("t")) > 0
