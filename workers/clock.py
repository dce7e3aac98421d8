"""``python -m workers.clock``: the Procfile's `clock`, RQ's cron scheduler queueing the
periodic jobs of ``config/schedule.py``.

Optional, and safe to run several: workers run the same duties themselves
(``workers.upkeep``) and every periodic job claims its time slot before acting. Like the
worker, it outlives every Redis fault (logs ``clock.redis_fault``, backs off, resumes), and
a SIGTERM ends it at once, also while it waits for Redis.
"""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

from redis import RedisError
from rq.cron import CronScheduler
from rq.exceptions import StopRequested

from config.logging import configure_logging
from config.settings import settings_or_exit
from workers import runtime
from workers.faults import backoff_s, redis_fault
from workers.redis_conn import connect, describe

SCHEDULE = "config/schedule.py"


class Clock(CronScheduler):
    """RQ's CronScheduler that remembers a stop request, so a stop that came while Redis
    refused it (its shutdown then fails too) is not taken for a fault to retry."""

    def _install_signal_handlers(self) -> None:
        super()._install_signal_handlers()  # type: ignore[no-untyped-call]
        if runtime.stop_requested():  # asked before it started: do not start
            raise StopRequested

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        runtime.request_stop()
        super()._request_stop(signum, frame)  # type: ignore[no-untyped-call]


def main() -> int:
    settings = settings_or_exit()
    configure_logging(settings.log_level, settings.secret_values())
    log = logging.getLogger("recbridge.clock")
    _stop_on_signals()
    log.info("clock.starting", extra={"redis": describe(settings)})
    connection = connect(settings)
    failures = 0
    while not runtime.stop_requested():
        try:
            scheduler = Clock(connection=connection, logging_level=settings.log_level)
            scheduler.load_config_from_file(SCHEDULE)
            scheduler.start()  # type: ignore[no-untyped-call]
            return 0  # it returns only when asked to stop
        except StopRequested:
            return 0
        except RedisError as exc:
            failures += 1
            pause = backoff_s(failures)
            log.error(
                "clock.redis_fault",
                extra={"fault": redis_fault(exc), "error": str(exc)[:200], "retry_in_s": pause},
            )
        _stop_on_signals()  # the scheduler's handlers raise into whatever runs
        if runtime.wait_for_stop(pause):
            return 0
    return 0


def _stop_on_signals() -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        runtime.request_stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


if __name__ == "__main__":
    sys.exit(main())
