"""Run RQ workers the way production does, in-process (burst) or as real processes."""

from __future__ import annotations

import redis as redis_lib
from rq import SimpleWorker

from workers.queues import ALL_QUEUES


def run_burst(connection: redis_lib.Redis) -> None:
    """Work every queued job until the queues are empty."""
    SimpleWorker(list(ALL_QUEUES), connection=connection).work(burst=True, logging_level="WARNING")
