"""``python -m workers``: the Procfile's `worker`, an RQ SimpleWorker with RQ's scheduler.

RQ's own CLI worker exits when Redis disappears at the wrong moment (registering, after a
job); this entrypoint starts working again once Redis is back, so an outage needs no
restart. A SIGTERM still ends it after the current job (RQ's warm shutdown).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

from config.logging import configure_logging
from config.metrics import prepare
from config.settings import settings_or_exit

MAINTENANCE_INTERVAL_S = 30  # how soon jobs of a dead worker are found and retried
RECONNECT_PAUSE_S = (1, 2, 5, 10)
_asked_while_starting = threading.Event()


def main() -> int:
    hold_stop_requests(_asked_while_starting.set)
    settings = settings_or_exit()
    prepare(settings, "worker")  # before anything imports prometheus_client

    from redis import ConnectionError as RedisConnectionError  # noqa: PLC0415
    from redis import Redis  # noqa: PLC0415
    from redis import TimeoutError as RedisTimeoutError  # noqa: PLC0415

    from workers import runtime  # noqa: PLC0415
    from workers.deadletters import on_job_exception  # noqa: PLC0415
    from workers.joblog import JobContextFilter  # noqa: PLC0415
    from workers.lineage import end_children_with_this_process  # noqa: PLC0415
    from workers.queues import ALL_QUEUES  # noqa: PLC0415
    from workers.worker_class import RecbridgeWorker  # noqa: PLC0415

    configure_logging(settings.log_level, settings.secret_values(), [JobContextFilter()])
    end_children_with_this_process()  # RQ's scheduler must not outlive a killed worker
    log = logging.getLogger("recbridge.worker")
    # No socket timeout here: RQ blocks on BLPOP for minutes between jobs.
    connection = Redis.from_url(
        settings.redis_url, socket_connect_timeout=5, health_check_interval=30
    )
    failures = 0
    while True:
        # Also after a Redis loss: RQ's handlers belong to the previous worker object.
        hold_stop_requests(runtime.request_stop)
        if _asked_while_starting.is_set() or runtime.stop_requested():
            return 0
        try:
            worker = RecbridgeWorker(
                list(ALL_QUEUES),
                connection=connection,
                exception_handlers=[on_job_exception],
                maintenance_interval=MAINTENANCE_INTERVAL_S,
            )
            worker.work(with_scheduler=True, logging_level=settings.log_level)
            hold_stop_requests(runtime.request_stop)
            # SIGTERM/SIGINT: a warm shutdown was asked for. RQ flags it only when the
            # signal comes during a job; when idle it just leaves its loop.
            if worker._stop_requested or runtime.stop_requested():
                return 0
            log.error("worker.stopped_unasked", extra={"retry_in_s": RECONNECT_PAUSE_S[0]})
            _pause(RECONNECT_PAUSE_S[0], runtime.stop_requested)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            hold_stop_requests(runtime.request_stop)
            pause = RECONNECT_PAUSE_S[min(failures, len(RECONNECT_PAUSE_S) - 1)]
            failures += 1
            log.error("worker.redis_lost", extra={"error": str(exc), "retry_in_s": pause})
            _pause(pause, runtime.stop_requested)


def _pause(seconds: float, stop_requested: Callable[[], bool]) -> None:
    """Sleep, but end at once when a stop is asked for."""
    deadline = time.monotonic() + seconds
    while not stop_requested() and time.monotonic() < deadline:
        time.sleep(0.1)


def hold_stop_requests(on_stop: Callable[[], None]) -> None:
    """Until RQ installs its own handlers (after it forks its scheduler), a SIGTERM or
    SIGINT is remembered rather than fatal; the worker then stops before its first job.

    Without this, a stop that came while the worker was starting killed it outright and
    left RQ's scheduler lock held for a minute.
    """
    main_pid = os.getpid()

    def remember(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != main_pid:  # RQ's forked scheduler, before it set its own handler
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        on_stop()

    signal.signal(signal.SIGTERM, remember)
    signal.signal(signal.SIGINT, remember)


if __name__ == "__main__":
    sys.exit(main())
