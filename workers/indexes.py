"""Reading the sorted-set indexes (scored by start time) newest first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from redis import Redis

from workers import keys

PAGE = 200


def newest_first(
    connection: Redis,
    index: str,
    record_key: Callable[[str], str],
    *,
    state: str | None,
    limit: int,
    decode: Callable[[Any], dict[str, Any]] = orjson.loads,
) -> list[dict[str, Any]]:
    """Up to ``limit`` records of ``index``, newest first, in ``state`` when given. Members
    whose record has expired are dropped from the index as they are met."""
    found: list[dict[str, Any]] = []
    start = 0
    while len(found) < limit:
        ids = keys.members(connection.zrevrange(index, start, start + PAGE - 1))
        if not ids:
            break
        for member, raw in zip(ids, connection.mget([record_key(i) for i in ids]), strict=True):
            if raw is None:
                connection.zrem(index, member)
                continue
            record = decode(raw)
            if state is None or record["state"] == state:
                found.append(record)
                if len(found) == limit:
                    break
        start += PAGE
    return found
