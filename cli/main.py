"""``recbridge``: sessions, recordings, dead letters, queue and worker health."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click
from redis import Redis, RedisError
from rq import Queue, Worker
from rq.registry import FailedJobRegistry, StartedJobRegistry

from cli.endpoints import endpoints_group
from cli.output import age, detail, emit_json, table
from config.settings import Settings, SettingsError, load_settings
from workers import deadletters, jobs, recordings, session_queries, sessions, transitions
from workers.agora.answers import AgoraError
from workers.agora.bodies import InvalidRequest
from workers.agora.client import AgoraClient
from workers.control import request_recording
from workers.control.updating import Finished, request_uids
from workers.faults import redis_fault
from workers.queues import ALL_QUEUES, job_policy
from workers.ratelimit import SharedRateLimit
from workers.redis_conn import connect, describe


@dataclass
class Context:
    settings: Settings
    redis: Redis


pass_context = click.make_pass_decorator(Context)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


class _Commands(click.Group):
    """A Redis fault ends a command with one line naming it, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RedisError as exc:
            where = describe(ctx.obj.settings) if isinstance(ctx.obj, Context) else "Redis"
            raise click.ClickException(
                f"Redis at {where} is unavailable ({redis_fault(exc)}); try again"
            ) from None


@click.group(cls=_Commands)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Operate recbridge: reads REDIS_URL and the other settings from the environment."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    ctx.obj = Context(settings, connect(settings))


# ---- sessions ---------------------------------------------------------------------


@main.group("sessions")
def sessions_group() -> None:
    """Cloud-recording sessions built from callbacks and polls."""


@sessions_group.command("list")
@click.option("--state", type=click.Choice(transitions.STATES))
@click.option("--cname")
@click.option("--limit", default=50, type=click.IntRange(1, 500))
@json_option
@pass_context
def sessions_list(
    ctx: Context, state: str | None, cname: str | None, limit: int, as_json: bool
) -> None:
    found = session_queries.list_sessions(ctx.redis, state=state, cname=cname, limit=limit)
    if as_json:
        emit_json(found)
        return
    rows = [{**s, "started": age(s["started_ms"]), "files": len(s["files"])} for s in found]
    table(rows, ["sid", "cname", "state", "upload_status", "exit_status", "files", "started"])


@sessions_group.command("show")
@click.argument("sid")
@json_option
@pass_context
def sessions_show(ctx: Context, sid: str, as_json: bool) -> None:
    session = session_queries.get_session(ctx.redis, sid)
    if session is None:
        raise click.ClickException(f"no session {sid!r}")
    emit_json(session) if as_json else detail(session)


@sessions_group.command("resync")
@click.argument("sid")
@pass_context
def sessions_resync(ctx: Context, sid: str) -> None:
    """Ask Agora's query for the session now and fold the answer in."""
    if not ctx.settings.recording_enabled:
        raise click.ClickException("AGORA_APP_ID is not set: recbridge cannot ask Agora")
    session = sessions.load(ctx.redis, sid)
    if session is None:
        raise click.ClickException(f"no session {sid!r}")
    recording_id = session.get("recording_id") or recordings.for_sid(ctx.redis, sid)
    recording = recordings.load(ctx.redis, recording_id) if recording_id else None
    if recording is None:
        # Agora's query needs the resource id, which only the starter of a session knows.
        raise click.ClickException(
            f"session {sid!r} was not started by recbridge: Agora's query needs its resource id"
        )
    limit = SharedRateLimit(ctx.redis, ctx.settings.agora_app_id or "", ctx.settings.agora_qps)
    client = AgoraClient(ctx.settings, limit, timeout_s=ctx.settings.agora_http_timeout_s)
    try:
        answer = client.query(session["resource_id"] or recording["resource_id"], sid)
    except AgoraError as exc:
        raise click.ClickException(str(exc)) from None
    response = answer.get("serverResponse") or {}
    files = response.get("fileList") if isinstance(response.get("fileList"), list) else []
    updated = sessions.observe_query(
        ctx.redis,
        sid,
        cname=session["cname"],
        recorder_uid=session["recorder_uid"],
        status=int(response.get("status", 0)),
        files=files or [],
        retention_s=ctx.settings.session_retention_s,
    )
    click.echo(
        f"{sid}: query status {response.get('status')}, state {updated and updated['state']}"
    )


# ---- recordings -------------------------------------------------------------------


@main.group("recordings")
def recordings_group() -> None:
    """Recordings: start, stop, list, show."""


@recordings_group.command("list")
@click.option("--state", type=click.Choice(recordings.RECORDING_STATES))
@click.option("--cname")
@click.option("--limit", default=50, type=click.IntRange(1, 500))
@json_option
@pass_context
def recordings_list(
    ctx: Context, state: str | None, cname: str | None, limit: int, as_json: bool
) -> None:
    found = recordings.list_recordings(ctx.redis, cname=cname, state=state, limit=limit)
    if as_json:
        emit_json(found)
        return
    rows = [{**r, "created": age(r["created_ms"])} for r in found]
    table(rows, ["id", "cname", "state", "sid", "restarts", "error", "created"])


@recordings_group.command("show")
@click.argument("recording_id")
@json_option
@pass_context
def recordings_show(ctx: Context, recording_id: str, as_json: bool) -> None:
    recording = recordings.load(ctx.redis, recording_id)
    if recording is None:
        raise click.ClickException(f"no recording {recording_id!r}")
    emit_json(recording) if as_json else detail(recording)


@recordings_group.command("start")
@click.argument("cname")
@click.option("--uid", "uids", multiple=True, help="A uid to record (repeat); default: all.")
@click.option("--max-idle-time", type=int)
@pass_context
def recordings_start(
    ctx: Context, cname: str, uids: tuple[str, ...], max_idle_time: int | None
) -> None:
    if not ctx.settings.recording_enabled:
        raise click.ClickException("recording control needs AGORA_APP_ID")
    try:
        recording, created = request_recording(
            ctx.redis, ctx.settings, cname, list(uids) or None, max_idle_time, "cli"
        )
    except InvalidRequest as exc:
        raise click.ClickException(str(exc)) from None
    if created:
        jobs.enqueue(ctx.redis, job_policy(ctx.settings), jobs.RUN_START, recording["id"])
    click.echo(f"{recording['id']} {'requested' if created else 'already ' + recording['state']}")


@recordings_group.command("stop")
@click.argument("recording_id")
@pass_context
def recordings_stop(ctx: Context, recording_id: str) -> None:
    recording = recordings.load(ctx.redis, recording_id)
    if recording is None:
        raise click.ClickException(f"no recording {recording_id!r}")
    if recording["state"] in recordings.FINAL:
        click.echo(f"{recording_id} is already {recording['state']}")
        return
    jobs.enqueue(ctx.redis, job_policy(ctx.settings), jobs.RUN_STOP, recording_id)
    click.echo(f"{recording_id} stop requested")


@recordings_group.command("update")
@click.argument("recording_id")
@click.option("--uid", "uids", multiple=True, help="A uid to record (repeat); none: all.")
@pass_context
def recordings_update(ctx: Context, recording_id: str, uids: tuple[str, ...]) -> None:
    """Change a live recording's uids (Agora ``update``)."""
    try:
        changed = request_uids(ctx.redis, ctx.settings, recording_id, list(uids) or None)
    except (InvalidRequest, Finished) as exc:
        raise click.ClickException(str(exc)) from None
    if changed is None:
        raise click.ClickException(f"no recording {recording_id!r}")
    click.echo(f"{recording_id} update requested: {', '.join(uids) or 'all uids'}")


# ---- dead letters -----------------------------------------------------------------


@main.group("dead-letters")
def letters_group() -> None:
    """Jobs that failed for good, and their replay."""


@letters_group.command("list")
@click.option("--limit", default=50, type=click.IntRange(1, 10_000))
@json_option
@pass_context
def letters_list(ctx: Context, limit: int, as_json: bool) -> None:
    letters = deadletters.list_letters(ctx.redis, limit)
    if as_json:
        emit_json(letters)
        return
    rows = [
        {
            **letter,
            "failed": age(letter["failed_ms"]),
            "replays": len(letter["replays"]),
            "args": ",".join(map(str, letter["args"]))[:40],
            "error": letter["error"][:60],
        }
        for letter in letters
    ]
    table(rows, ["id", "func", "args", "error", "replays", "failed"])


@letters_group.command("replay")
@click.argument("letter_ids", nargs=-1)
@click.option(
    "--all", "replay_all", is_flag=True, help="Replay every dead letter not yet replayed."
)
@pass_context
def letters_replay(ctx: Context, letter_ids: tuple[str, ...], replay_all: bool) -> None:
    if replay_all:
        letter_ids = tuple(
            letter["id"]
            for letter in deadletters.list_letters(ctx.redis, 100_000)
            if not letter["replays"]
        )
    if not letter_ids:
        if replay_all:
            click.echo("no dead letters to replay")
            return
        raise click.ClickException("name dead letters to replay, or --all")
    policy, missing = job_policy(ctx.settings), []
    with click.progressbar(letter_ids, label="replaying", file=sys.stderr) as bar:
        for letter_id in bar:
            if deadletters.replay(ctx.redis, letter_id, policy) is None:
                missing.append(letter_id)
    click.echo(f"replayed {len(letter_ids) - len(missing)} of {len(letter_ids)}")
    if missing:
        raise click.ClickException(f"unknown dead letters: {', '.join(missing)}")


# ---- health -----------------------------------------------------------------------


def _workers(redis: Redis) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    rows = []
    for worker in Worker.all(connection=redis):
        beat = worker.last_heartbeat
        beat_age = (now - beat.replace(tzinfo=UTC)).total_seconds() if beat else None
        rows.append(
            {
                "name": worker.name,
                "state": worker.get_state(),
                "queues": ",".join(worker.queue_names()),
                "heartbeat_age_s": None if beat_age is None else round(beat_age, 1),
            }
        )
    return rows


@main.command("health")
@json_option
@pass_context
def health(ctx: Context, as_json: bool) -> None:
    """Queues (waiting, running, failed) and workers (last heartbeat)."""
    queues = []
    for name in ALL_QUEUES:
        queue = Queue(name, connection=ctx.redis)
        queues.append(
            {
                "queue": name,
                "waiting": queue.count,
                "running": StartedJobRegistry(queue=queue).count,
                "failed": FailedJobRegistry(queue=queue).count,
            }
        )
    workers = _workers(ctx.redis)
    if as_json:
        emit_json({"queues": queues, "workers": workers})
        return
    table(queues, ["queue", "waiting", "running", "failed"])
    click.echo()
    table(workers, ["name", "state", "queues", "heartbeat_age_s"])


@main.command("worker-health")
@click.option(
    "--max-age",
    default=60.0,
    show_default=True,
    help="Seconds within which some worker must have beaten.",
)
@pass_context
def worker_health(ctx: Context, max_age: float) -> None:
    """Exit 0 when at least one worker's heartbeat is fresh, else 1 (for process managers)."""
    fresh = [
        w
        for w in _workers(ctx.redis)
        if w["heartbeat_age_s"] is not None and w["heartbeat_age_s"] <= max_age
    ]
    if not fresh:
        click.echo(f"unhealthy: no worker heartbeat in the last {max_age:g} s", err=True)
        sys.exit(1)
    click.echo(f"ok: {len(fresh)} worker(s) with a heartbeat in the last {max_age:g} s")


main.add_command(endpoints_group)

if __name__ == "__main__":
    main()
