"""``python -m workers``: the Procfile's `worker`, an RQ SimpleWorker with RQ's scheduler,
plus an upkeep thread that runs the periodic duties (``workers.upkeep``).

RQ's own CLI worker exits when Redis refuses it (gone, out of memory, read-only, loading, a
failover); this entrypoint logs ``worker.redis_fault``, backs off and starts working again
once Redis takes it, so no fault needs a restart. A SIGTERM ends it after the current job
(RQ's warm shutdown), and at once while it waits for Redis.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

from config.logging import configure_logging
from config.metrics import prepare
from config.settings import settings_or_exit


def main() -> int:
    asked_while_starting = threading.Event()
    _stop_on_signals(asked_while_starting.set)  # from the very start: a stop is never a kill
    settings = settings_or_exit()
    prepare(settings, "worker")  # before anything imports prometheus_client

    from redis import RedisError  # noqa: PLC0415
    from rq.exceptions import StopRequested  # noqa: PLC0415

    from workers import runtime, upkeep  # noqa: PLC0415
    from workers.deadletters import on_job_exception  # noqa: PLC0415
    from workers.faults import backoff_s, redis_fault  # noqa: PLC0415
    from workers.joblog import JobContextFilter  # noqa: PLC0415
    from workers.lineage import end_children_with_this_process  # noqa: PLC0415
    from workers.queues import ALL_QUEUES  # noqa: PLC0415
    from workers.redis_conn import connect, describe  # noqa: PLC0415
    from workers.worker_class import RecbridgeWorker  # noqa: PLC0415

    _stop_on_signals(runtime.request_stop)
    if asked_while_starting.is_set():
        return 0
    configure_logging(settings.log_level, settings.secret_values(), [JobContextFilter()])
    end_children_with_this_process()  # RQ's scheduler must not outlive a killed worker
    log = logging.getLogger("recbridge.worker")
    log.info("worker.starting", extra={"redis": describe(settings)})
    # No socket timeout of our own: RQ sets one that fits its blocking dequeue.
    connection = connect(settings, socket_timeout=None)
    upkeeper = upkeep.start(connect(settings), settings, runtime.stopping_event())
    try:
        failures = 0
        while not runtime.stop_requested():
            try:
                worker = RecbridgeWorker(
                    list(ALL_QUEUES),
                    connection=connection,
                    exception_handlers=[on_job_exception],
                    maintenance_interval=MAINTENANCE_INTERVAL_S,
                )
                try:
                    worker.work(with_scheduler=True, logging_level=settings.log_level)
                finally:
                    # RQ's teardown stops its pubsub thread only once its loop ran; when
                    # starting the scheduler fails the thread would live on (one more per
                    # retry) and still run while Python finalizes.
                    worker.unsubscribe()
                # SIGTERM/SIGINT: a warm shutdown was asked for. RQ flags it only when the
                # signal comes during a job; when idle it just leaves its loop.
                if worker._stop_requested or runtime.stop_requested():
                    return 0
                pause = RESTART_PAUSE_S
                log.error("worker.stopped_unasked", extra={"retry_in_s": pause})
            except StopRequested:
                return 0
            except RedisError as exc:
                failures += 1
                pause = backoff_s(failures)
                log.error(
                    "worker.redis_fault",
                    extra={"fault": redis_fault(exc), "error": str(exc)[:200], "retry_in_s": pause},
                )
            _stop_on_signals(runtime.request_stop)  # RQ's handlers left with its loop
            if runtime.wait_for_stop(pause):
                return 0
        return 0
    finally:
        # The upkeep thread must end before the interpreter does: a daemon thread
        # inside a Redis call while Python finalizes can crash the process.
        runtime.request_stop()
        upkeeper.join(timeout=UPKEEP_JOIN_S)


MAINTENANCE_INTERVAL_S = 30  # how soon RQ finds and retries jobs of a dead worker
RESTART_PAUSE_S = 1.0
UPKEEP_JOIN_S = 30.0  # a deadline, not a speed: rounds of Redis calls, 3 s timeout each


def _stop_on_signals(request_stop: Callable[[], None]) -> None:
    """Outside RQ's loop (starting, or waiting for Redis), a SIGTERM or SIGINT is
    remembered rather than fatal; the worker then stops before its next job (see
    ``RecbridgeWorker._install_signal_handlers``) or at once while it waits."""
    main_pid = os.getpid()

    def handler(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != main_pid:  # RQ's forked scheduler, before it set its own handler
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        request_stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


if __name__ == "__main__":
    sys.exit(main())
