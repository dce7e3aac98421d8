"""The drain job: apply a stream's queued events. Enqueued only by ``workers.inbox``."""

from __future__ import annotations

from rq import get_current_job

from workers import runtime
from workers.channels import drain_channel
from workers.sessions import drain_session


def drain(stream: str) -> int:
    job = get_current_job()
    assert job is not None, "drain runs as an RQ job"
    connection = job.connection
    if stream.startswith("s:"):
        return drain_session(
            connection, stream[2:], retention_s=runtime.settings().session_retention_s
        )
    if stream.startswith("c:"):
        return len(drain_channel(connection, stream[2:]))
    raise ValueError(f"unknown stream kind: {stream!r}")
