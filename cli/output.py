"""Readable tables by default, JSON for scripts."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import click
import orjson


def emit_json(value: Any) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def age(ms: int | None) -> str:
    if not ms:
        return "-"
    seconds = max(0, int(time.time() - ms / 1000))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    if not rows:
        click.echo("(none)")
        return
    cells = [[("-" if row.get(c) is None else str(row.get(c))) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def detail(value: dict[str, Any]) -> None:
    """One ``key  value`` line each: values as JSON, epoch milliseconds as ISO 8601 UTC."""
    width = max(len(k) for k in value)
    for key, item in value.items():
        click.echo(f"{key.ljust(width)}  {shown(key, item)}")


# Epoch milliseconds after 1973: a time, not a duration or a count.
_EARLIEST_TIME_MS = 100_000_000_000


def shown(key: str, item: Any) -> str:
    if isinstance(item, str):
        return item
    if (
        key.endswith("_ms")
        and isinstance(item, int)
        and not isinstance(item, bool)
        and item >= _EARLIEST_TIME_MS
    ):
        at = datetime.fromtimestamp(item / 1000, tz=UTC)
        return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return orjson.dumps(item).decode()
