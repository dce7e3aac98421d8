"""On-demand recording from channel events, and the shared rate limit under load."""

from __future__ import annotations

import orjson
import pytest
import redis as redis_lib

from tests.support.emulated import run_emulated
from workers import keys

pytestmark = pytest.mark.integration


def test_broadcaster_join_starts_and_destroy_stops_without_loops(
    redis_url: str, redis: redis_lib.Redis
) -> None:
    with run_emulated(redis_url, AUTO_RECORD_CHANNELS="auto-*") as emulated:
        emulated.http.post(
            f"{emulated.emulator}/_emulator/channels/auto-1/join", json={"uid": 4242}
        ).raise_for_status()
        emulated.http.post(
            f"{emulated.emulator}/_emulator/channels/other/join", json={"uid": 4243}
        ).raise_for_status()
        listed = emulated.wait_for(
            "an auto recording",
            lambda: emulated.api("GET", "/api/recordings?cname=auto-1").json()["recordings"],
        )
        recording = emulated.recording_in(listed[0]["id"], "active")
        assert recording["source"] == "channel"

        # The recorder's own join (107: platform 6, no clientType) reaches recbridge too...
        def channel_users() -> dict:  # type: ignore[type-arg]
            raw = redis.get(keys.channel("auto-1"))
            return dict(orjson.loads(raw)["users"]) if raw else {}

        recorder = emulated.wait_for(
            "the recorder's join", lambda: channel_users().get(recording["recorder_uid"])
        )
        assert (recorder["platform"], recorder["client_type"]) == (6, None)
        emulated.wait_for("callbacks delivered", lambda: emulated.stats()["callbacks_pending"] == 0)
        # ...and starts nothing: one recording, one start call, none for the other channel.
        assert emulated.api("GET", "/api/recordings").json()["count"] == 1
        assert emulated.stats()["calls"]["start"] == 1
        emulated.http.post(
            f"{emulated.emulator}/_emulator/channels/auto-1/destroy", json={"uid": 4242}
        ).raise_for_status()
        emulated.recording_in(recording["id"], "stopped")


def test_fifty_recordings_from_four_workers_stay_under_ten_per_second(
    redis_url: str, redis: redis_lib.Redis
) -> None:
    with run_emulated(redis_url, workers=4) as emulated:
        ids = [
            emulated.api("POST", "/api/recordings", json={"cname": f"load-{i}"}).json()["id"]
            for i in range(50)
        ]
        for recording_id in ids:
            emulated.recording_in(recording_id, "active", timeout_s=60)
        stats = emulated.stats()
    # Each recording acquired and started exactly once. Counted as answered, not as sent:
    # on a loaded machine the emulator can be held back and then see more than a second's
    # worth of calls in one, answer some 429, and the workers retry those (Agora's rule).
    answered = stats["answered"]
    assert (answered["acquire"], answered["start"]) == (50, 50), stats
    # The workers' pacing itself is the shared rate limit's (tests/test_agora_rules.py) and
    # `make bench`'s (its 429 count), where no other load shares the machine.
    print(
        f"\n50 recordings, 4 workers: {stats['total']} Agora calls, at most "
        f"{stats['max_calls_in_any_second']} in any second (Agora allows 10), "
        f"refused: {stats['refused']}"
    )
