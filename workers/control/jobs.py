"""The control jobs RQ runs (declared in ``workers.jobs``): thin entry points, each under a
lease (``workers.control.leases``) so a worker's death resumes it within seconds."""

from __future__ import annotations

from rq import get_current_job

from workers.control import polling, starting, stopping, tasks, updating
from workers.control.calls import Budget
from workers.control.context import job_context
from workers.control.intake import request_recording
from workers.control.leases import leased
from workers.recordings import REQUESTED


def start_recording(
    cname: str, uids: list[str] | None = None, max_idle_time: int | None = None
) -> str:
    """Keep ``cname`` recorded; returns the recording id. Enqueuing twice starts one."""
    connection, settings = job_context()
    with leased():
        recording, _ = request_recording(connection, settings, cname, uids, max_idle_time, "job")
        if recording["state"] == REQUESTED:
            starting.start(connection, settings, recording["id"], Budget())
        return str(recording["id"])


def stop_recording(recording_id: str) -> str:
    """Stop a recording; returns its state. Stopping twice costs one ``stop`` call."""
    connection, settings = job_context()
    with leased():
        return stopping.stop(connection, settings, recording_id)


def run_start(recording_id: str) -> None:
    connection, settings = job_context()
    with leased():
        starting.start(connection, settings, recording_id, Budget())


def run_stop(recording_id: str) -> str:
    connection, settings = job_context()
    with leased():
        return stopping.stop(connection, settings, recording_id)


def poll(recording_id: str, sid: str) -> None:
    """Ask ``query`` how the session is doing, fold the answer in, act, and poll again."""
    connection, settings = job_context()
    job = get_current_job()
    assert job is not None
    ids = frozenset(filter(None, (job.id, job.meta.get("resumed_from"))))
    with leased():
        polling.poll(connection, settings, recording_id, sid, ids)


def reconcile(recording_id: str, sid: str) -> None:
    """Act on what a session's callbacks changed (enqueued by the drain)."""
    connection, settings = job_context()
    with leased():
        polling.reconcile(connection, settings, recording_id, sid)


def retire_task(recording_id: str, sid: str, tries: int = 0) -> None:
    """End a task the recording no longer wants (see ``workers.control.tasks``)."""
    connection, settings = job_context()
    with leased():
        tasks.retire(connection, settings, recording_id, sid, tries)


def update_uids(recording_id: str) -> str:
    """Send the recording's uids to its live task (Agora ``update``)."""
    connection, settings = job_context()
    with leased():
        return updating.update_uids(connection, settings, recording_id)
