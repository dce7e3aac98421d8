"""``recbridge endpoints``: the operator's commands against a real Redis."""

from __future__ import annotations

import re

import redis as redis_lib

from tests.support import processes
from workers import keys, recordings
from workers.notify import endpoints

SIGNING_KEY = "cli-signing-key-5e0c19ab77"


def test_add_list_rotate_replay_enable_remove(redis_url: str, redis: redis_lib.Redis) -> None:
    env = {"REDIS_URL": redis_url, "NOTIFY_SIGNING_KEY": SIGNING_KEY}

    def cli(*args: str) -> str:
        done = processes.run_cli(list(args), env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    added = cli("endpoints", "add", "http://127.0.0.1:9/hooks", "--type", "recording.active")
    [secret] = re.findall(r"whsec_\S+", added)
    [endpoint_id] = re.findall(r"ep_[0-9a-f]+", added)
    listed = cli("endpoints", "list")
    assert endpoint_id in listed and "recording.active" in listed and secret not in listed
    rotated = cli("endpoints", "rotate", endpoint_id)
    [new_secret] = re.findall(r"whsec_\S+", rotated)
    assert new_secret != secret

    recording, _ = recordings.create(redis, recordings.new_recording("c", None, 300, "cli"))
    recordings.update(redis, recording["id"], lambda r: r.update(state="active", sid="s"))
    entry = redis.lindex(keys.NOTIFY_OUTBOX, 0)
    assert entry is not None  # fanned out below, as a delivery job would
    from workers.notify import store  # noqa: PLC0415

    store.fan_out(redis, endpoints.list_all(redis), 600)
    redis.delete(keys.notify_due(endpoint_id))
    assert "1 message(s) queued again" in cli("endpoints", "replay", endpoint_id, "--since", "1h")
    assert redis.zcard(keys.notify_due(endpoint_id)) == 1

    endpoints.set_disabled(redis, endpoint_id, "gone")
    cli("endpoints", "enable", endpoint_id)
    assert endpoints.load(redis, endpoint_id)["disabled"] is False  # type: ignore[index]
    cli("endpoints", "remove", endpoint_id)
    assert endpoints.list_all(redis) == []
