"""Stamps every log line a job writes with its job id and function (as redash does)."""

from __future__ import annotations

import logging

from rq import get_current_job


class JobContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        job = get_current_job()
        if job is not None:
            record.job_id = job.id
            record.job_func = job.func_name
        return True
