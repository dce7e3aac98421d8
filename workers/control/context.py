"""What every control job needs: its connection and settings, and its log lines."""

from __future__ import annotations

import logging
from typing import Any

from redis import Redis
from rq import get_current_job

from config.settings import Settings
from workers import runtime

log = logging.getLogger("recbridge.control")


def job_context() -> tuple[Redis, Settings]:
    job = get_current_job()
    assert job is not None, "control functions run as RQ jobs"
    return job.connection, runtime.settings()


def log_recording(event: str, recording: dict[str, Any], **extra: Any) -> None:
    log.info(
        event,
        extra={
            "recording_id": recording["id"],
            "cname": recording["cname"],
            "sid": recording["sid"],
            "state": recording["state"],
            **extra,
        },
    )
