"""Newest-first listings over sorted-set indexes: dropping expired members skips nothing."""

from __future__ import annotations

import orjson
import pytest
import redis as redis_lib

from workers.indexes import PAGE, newest_first


def record_key(member: str) -> str:
    return f"test:record:{member}"


@pytest.mark.parametrize("same_score", [False, True])
def test_expired_members_on_a_page_do_not_hide_the_next_ones(
    redis: redis_lib.Redis, same_score: bool
) -> None:
    """The first page is mostly expired records; the live ones behind it must all be found,
    also when many members share one score (sessions started in the same millisecond)."""
    total = PAGE * 2 + 50
    for n in range(total):
        score = 1000 if same_score else total - n  # member 0 is the newest
        redis.zadd("test:index", {f"m{n:04d}": score})
        if n < PAGE - 10 or n % 3 == 0:  # expired: the index entry outlived its record
            continue
        redis.set(record_key(f"m{n:04d}"), orjson.dumps({"id": f"m{n:04d}", "state": "x"}))
    live = {k.decode().rsplit(":", 1)[1] for k in redis.keys("test:record:*")}

    found = newest_first(redis, "test:index", record_key, state=None, limit=total)
    assert {r["id"] for r in found} == live and len(found) == len(live)
    if not same_score:
        assert [r["id"] for r in found] == sorted(live)  # newest first
    assert redis.zcard("test:index") == len(live)  # the expired ones were dropped

    again = newest_first(redis, "test:index", record_key, state=None, limit=10)
    assert len(again) == 10
