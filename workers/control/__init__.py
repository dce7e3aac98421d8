"""Recording control: start, poll, reconcile, restart and stop recordings.

Public jobs other services may enqueue with plain arguments (both safe to enqueue twice):
``workers.control.start_recording(cname, uids=None, max_idle_time=None)`` and
``workers.control.stop_recording(recording_id)``.

Modules: ``jobs`` (the RQ entry points, declared in ``workers.jobs``), ``policy`` (the pure
(step, verdict) -> action table), ``calls`` (in-call retries inside a job's budget),
``intake`` (request checks), ``starting``, ``polling``, ``stopping``, ``acting`` (what a
session's state asks for), ``scheduling`` (the successors jobs schedule).
"""

from workers.control.intake import check_request, request_recording
from workers.control.jobs import (
    poll,
    reconcile,
    retire_task,
    run_start,
    run_stop,
    start_recording,
    stop_recording,
    update_uids,
)

__all__ = [
    "check_request",
    "poll",
    "reconcile",
    "request_recording",
    "retire_task",
    "run_start",
    "run_stop",
    "start_recording",
    "stop_recording",
    "update_uids",
]
