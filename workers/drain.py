"""The drain jobs: apply streams' queued events (see ``workers.drainers`` for the pool).

Side effects (recording control) are queued after the drain's transaction, never inside it.
"""

from __future__ import annotations

import logging
import time

from redis import Redis, RedisError
from rq import get_current_job

from config.settings import Settings
from workers import autorecord, jobs, keys, periodic, runtime, sessions
from workers.channels import drain_channel
from workers.control import adopting
from workers.deadletters import record_stream
from workers.drainers import (
    LEASE_S,
    LEAVE_IF_IDLE,
    LINGER_S,
    MAX_SHIFT_S,
    RENEW,
    RENEW_EVERY_S,
    hand_back,
    jobs_waiting,
    recover_dead,
    redis_now_ms,
    replace,
    shift_length_s,
    spawn,
)
from workers.queues import events_queue, job_policy

log = logging.getLogger("recbridge.drain")


def drain_ready() -> int:
    """Drain ready streams until none is left (after lingering), or the shift ends while
    another job waits, or the worker is asked to stop; then a successor takes over."""
    job = get_current_job()
    assert job is not None, "drain_ready runs as an RQ job"
    connection, settings = job.connection, runtime.settings()
    mine = keys.draining(job.id)
    RENEW.run(connection, [keys.DRAINERS], [job.id, LEASE_S])
    hand_back(connection, mine)  # a retried job first returns what it held when it failed
    recover_dead(connection)
    started = renewed = time.monotonic()
    shift_ends, taken = started + shift_length_s(), 0
    done: str | None = None  # drained, still to leave `mine` (with the next take)
    while True:
        if time.monotonic() - renewed > RENEW_EVERY_S:
            RENEW.run(connection, [keys.DRAINERS], [job.id, LEASE_S])
            renewed = time.monotonic()
        raw, done = _release_and_take(connection, mine, done), None
        if raw is None:
            if LEAVE_IF_IDLE.run(connection, [keys.READY, keys.DRAINERS], [job.id]) == 1:
                return taken
            recover_dead(connection)
            continue
        stream = keys.text(raw)
        try:
            taken += drain_stream(connection, settings, stream)
        except RedisError:
            raise  # Redis itself failed: the job's retry hands the stream back
        except Exception as exc:
            _park(connection, settings, stream, job.origin, exc)
        done = stream
        now, stopping = time.monotonic(), runtime.stop_requested()
        if stopping or now > shift_ends:
            if stopping or jobs_waiting(connection) or now - started > MAX_SHIFT_S:
                connection.lrem(mine, 1, done)
                replace(connection, job.id, job.origin, job_policy(settings))
                return taken
            shift_ends = now + shift_length_s()


def _release_and_take(connection: Redis, mine: str, done: str | None) -> bytes | None:
    """Drop the stream just drained from this job's list and take the next ready one, in
    one round trip; waits up to LINGER_S for one."""
    with connection.pipeline(transaction=False) as pipe:
        if done is not None:
            pipe.lrem(mine, 1, done)
        # Redis takes a fractional timeout; redis-py's annotation says int.
        pipe.blmove(keys.READY, mine, LINGER_S, "LEFT", "RIGHT")  # type: ignore[arg-type]
        taken: bytes | None = pipe.execute()[-1]
    return taken


def _park(connection: Redis, settings: Settings, stream: str, queue: str, exc: Exception) -> None:
    """Keep a stream whose events fail to apply out of the pool, as a dead letter.

    Its pending flag stays set, so new events wait in its inbox rather than re-queue it;
    replaying the dead letter drains it again once the cause is fixed.
    """
    letter = record_stream(
        connection, stream, queue, exc, settings.dead_letter_retention_s, settings.secret_values()
    )
    log.error(
        "drain.stream_parked",
        extra={"stream": stream, "dead_letter_id": letter["id"], "error": letter["error"]},
    )


def watch_drainers() -> int:
    """Periodic job (queued by any `clock`): ``recover_drainers``, once per slot however
    many clocks and workers ask. Returns the streams handed back."""
    job = get_current_job()
    assert job is not None, "watch_drainers runs as an RQ job"
    if not periodic.claim_run(job.connection, jobs.WATCH_DRAINERS):
        return 0
    return recover_drainers(job.connection, runtime.settings())


def recover_drainers(connection: Redis, settings: Settings) -> int:
    """Recover dead drain jobs' streams, and start a drain job when streams are ready and
    no live job will take them (no callback may come to start one). Every worker runs this
    every few seconds (``workers.upkeep``), so it needs no clock. Returns the streams
    handed back."""
    handed_back = recover_dead(connection)
    now_ms = redis_now_ms(connection)
    live = connection.zcount(keys.DRAINERS, now_ms, "+inf")
    if connection.llen(keys.READY) and live < settings.drain_concurrency:
        spawn(connection, events_queue(connection), job_policy(settings))
        log.warning("drain.watchdog_started_drainer", extra={"live": live})
    if handed_back:
        log.warning("drain.recovered_dead_drainer", extra={"streams": handed_back})
    return handed_back


def drain(stream: str) -> int:
    """Drain one stream now (replays and tests; ingest uses the pool)."""
    job = get_current_job()
    assert job is not None, "drain runs as an RQ job"
    return drain_stream(job.connection, runtime.settings(), stream)


def drain_stream(connection: Redis, settings: Settings, stream: str) -> int:
    if stream.startswith("s:"):
        sid = stream[2:]
        drained = sessions.drain_session(connection, sid, retention_s=settings.session_retention_s)
        after = drained.session
        if after is not None and not after.get("recording_id"):
            if settings.recording_enabled:
                adopting.adopt(connection, settings, after)
        elif after is not None and drained.news_for_control:
            jobs.enqueue(
                connection, job_policy(settings), jobs.RECONCILE, after["recording_id"], sid
            )
        return drained.taken
    if stream.startswith("c:"):
        events = drain_channel(connection, stream[2:])
        autorecord.on_channel_events(connection, settings, stream[2:], events)
        return len(events)
    raise ValueError(f"unknown stream kind: {stream!r}")
