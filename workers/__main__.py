"""``python -m workers``: the Procfile's `worker`, an RQ SimpleWorker with RQ's scheduler.

RQ's own CLI worker exits when Redis disappears at the wrong moment (registering, after a
job); this entrypoint starts working again once Redis is back, so an outage needs no
restart. A SIGTERM still ends it after the current job (RQ's warm shutdown).
"""

from __future__ import annotations

import logging
import sys
import time

from config.logging import configure_logging
from config.metrics import prepare
from config.settings import settings_or_exit

MAINTENANCE_INTERVAL_S = 30  # how soon jobs of a dead worker are found and retried
RECONNECT_PAUSE_S = (1, 2, 5, 10)


def main() -> int:
    settings = settings_or_exit()
    prepare(settings)  # before anything imports prometheus_client

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
        try:
            worker = RecbridgeWorker(
                list(ALL_QUEUES),
                connection=connection,
                exception_handlers=[on_job_exception],
                maintenance_interval=MAINTENANCE_INTERVAL_S,
            )
            worker.work(with_scheduler=True, logging_level=settings.log_level)
            # SIGTERM/SIGINT: a warm shutdown was asked for. RQ flags it only when the
            # signal comes during a job; when idle it just leaves its loop.
            if worker._stop_requested or runtime.stop_requested():
                return 0
            log.error("worker.stopped_unasked", extra={"retry_in_s": RECONNECT_PAUSE_S[0]})
            time.sleep(RECONNECT_PAUSE_S[0])
        except (RedisConnectionError, RedisTimeoutError) as exc:
            pause = RECONNECT_PAUSE_S[min(failures, len(RECONNECT_PAUSE_S) - 1)]
            failures += 1
            log.error("worker.redis_lost", extra={"error": str(exc), "retry_in_s": pause})
            time.sleep(pause)


if __name__ == "__main__":
    sys.exit(main())
