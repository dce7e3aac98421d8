"""Reading the sorted-set indexes (scored by start time) newest first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

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
    whose record has expired are dropped from the index as they are met.

    Pages follow a score cursor, not positions: dropping members (here, or by another
    reader or the sweep) shifts every later position, and a position cursor then skipped
    as many live entries as were dropped.
    """
    found: list[dict[str, Any]] = []
    cursor: float | str = "+inf"
    seen_at_cursor: set[str] = set()  # members already read that score exactly ``cursor``
    while len(found) < limit:
        rows = cast(
            list[tuple[Any, Any]],
            connection.zrevrangebyscore(
                index, cursor, "-inf", start=0, num=PAGE + len(seen_at_cursor), withscores=True
            ),
        )
        page = [
            (member, score)
            for member, score in ((keys.text(m), float(s)) for m, s in rows)
            if not (score == cursor and member in seen_at_cursor)
        ]
        if not page:
            break
        ids = [member for member, _ in page]
        for member, raw in zip(ids, connection.mget([record_key(i) for i in ids]), strict=True):
            if raw is None:
                connection.zrem(index, member)
                continue
            record = decode(raw)
            if state is None or record["state"] == state:
                found.append(record)
                if len(found) == limit:
                    break
        last = page[-1][1]
        if last != cursor:
            seen_at_cursor = set()
        seen_at_cursor |= {member for member, score in page if score == last}
        cursor = last
    return found
