"""``recbridge endpoints``: where notifications go, their secrets, replay and re-enabling."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

import click

from cli.output import age, detail, emit_json, table
from workers.notify import endpoints, outbox, store
from workers.notify.events import EVENT_TYPES

if TYPE_CHECKING:
    from cli.main import Context

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def since_ms(value: str, now_ms: int) -> int:
    """``--since``: epoch milliseconds, or a duration back from now (``90s``, ``2h``, ``1d``)."""
    match = _DURATION.match(value.strip())
    if match:
        return now_ms - int(match.group(1)) * _UNIT_S[match.group(2)] * 1000
    if value.strip().isdigit():
        return int(value.strip())
    raise click.BadParameter("expected epoch milliseconds or a duration such as 30m, 2h, 1d")


def _fail(exc: endpoints.EndpointError) -> click.ClickException:
    return click.ClickException(f"{exc.field}: {exc}")


def _show_secret(secret: str) -> None:
    click.echo(f"secret  {secret}")
    click.echo("(shown once: store it where your receiver reads it)", err=True)


@click.group("endpoints")
def endpoints_group() -> None:
    """Notification endpoints (Standard Webhooks)."""


@endpoints_group.command("add")
@click.argument("url")
@click.option(
    "--type", "types", multiple=True, type=click.Choice(EVENT_TYPES), help="Repeat; default all."
)
@click.option("--description", default="")
@click.pass_obj
def endpoints_add(ctx: Context, url: str, types: tuple[str, ...], description: str) -> None:
    """Register URL; prints its signing secret, once."""
    try:
        endpoint, secret = endpoints.create(
            ctx.redis, ctx.settings, url, list(types) or None, description
        )
    except endpoints.EndpointError as exc:
        raise _fail(exc) from None
    detail({k: endpoint[k] for k in ("id", "url", "event_types", "description")})
    _show_secret(secret)


@endpoints_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def endpoints_list(ctx: Context, as_json: bool) -> None:
    found = endpoints.list_all(ctx.redis)
    backlog = store.backlog(ctx.redis, [e["id"] for e in found])
    rows: list[dict[str, Any]] = [{**e, "backlog": backlog[e["id"]]} for e in found]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        row.update(row.pop("counts"))
        row["types"] = ",".join(row["event_types"] or ["*"])
        row["state"] = f"disabled ({row['disabled_reason']})" if row["disabled"] else "enabled"
        row["created"] = age(row["created_ms"])
    table(rows, ["id", "url", "types", "state", "backlog", "delivered", "failed", "created"])


@endpoints_group.command("rotate")
@click.argument("endpoint_id")
@click.pass_obj
def endpoints_rotate(ctx: Context, endpoint_id: str) -> None:
    """A new secret; the old one keeps signing alongside for 24 h."""
    try:
        rotated = endpoints.rotate(ctx.redis, ctx.settings, endpoint_id)
    except endpoints.EndpointError as exc:
        raise _fail(exc) from None
    if rotated is None:
        raise click.ClickException(f"no endpoint {endpoint_id!r}")
    _show_secret(rotated[1])


@endpoints_group.command("replay")
@click.argument("endpoint_id")
@click.option("--since", "since", required=True, help="Epoch ms, or a duration: 30m, 2h, 1d.")
@click.pass_obj
def endpoints_replay(ctx: Context, endpoint_id: str, since: str) -> None:
    """Deliver again (same webhook-id) every message since then."""
    endpoint = endpoints.load(ctx.redis, endpoint_id)
    if endpoint is None:
        raise click.ClickException(f"no endpoint {endpoint_id!r}")
    start = since_ms(since, int(time.time() * 1000))
    queued = store.replay(ctx.redis, endpoint, start, ctx.settings.notify_retention_s)
    outbox.kick(ctx.redis, queued)
    click.echo(f"{endpoint_id}: {queued} message(s) queued again")


@endpoints_group.command("enable")
@click.argument("endpoint_id")
@click.pass_obj
def endpoints_enable(ctx: Context, endpoint_id: str) -> None:
    if endpoints.set_disabled(ctx.redis, endpoint_id, None) is None:
        raise click.ClickException(f"no endpoint {endpoint_id!r}")
    outbox.kick(ctx.redis, 1)
    click.echo(f"{endpoint_id} enabled")


@endpoints_group.command("remove")
@click.argument("endpoint_id")
@click.pass_obj
def endpoints_remove(ctx: Context, endpoint_id: str) -> None:
    if not endpoints.delete(ctx.redis, endpoint_id):
        raise click.ClickException(f"no endpoint {endpoint_id!r}")
    click.echo(f"{endpoint_id} removed")
