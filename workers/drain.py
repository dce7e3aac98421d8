"""The drain job: apply a stream's queued events. Enqueued only by ``workers.inbox``.

Side effects (recording control) are queued after the drain's transaction, never inside it.
"""

from __future__ import annotations

from rq import get_current_job

from workers import autorecord, runtime, sessions
from workers.channels import drain_channel
from workers.queues import enqueue_control

RECONCILE_ON = frozenset({"recording", "failover", "exited", "failed"})


def drain(stream: str) -> int:
    job = get_current_job()
    assert job is not None, "drain runs as an RQ job"
    connection, settings = job.connection, runtime.settings()
    if stream.startswith("s:"):
        sid = stream[2:]
        before = sessions.load(connection, sid)
        taken = sessions.drain_session(connection, sid, retention_s=settings.session_retention_s)
        after = sessions.load(connection, sid)
        changed = after is not None and (before is None or before["state"] != after["state"])
        if changed and after and after.get("recording_id") and after["state"] in RECONCILE_ON:
            enqueue_control(
                connection, settings, "workers.control.reconcile", after["recording_id"], sid
            )
        return taken
    if stream.startswith("c:"):
        events = drain_channel(connection, stream[2:])
        autorecord.on_channel_events(connection, settings, stream[2:], events)
        return len(events)
    raise ValueError(f"unknown stream kind: {stream!r}")
