"""``python -m workers.clock``: the Procfile's `clock`, RQ's cron scheduler running the
periodic jobs of ``config/schedule.py``. Like the worker, it outlives a Redis outage.
Run exactly one.
"""

from __future__ import annotations

import logging
import sys
import time

from redis import ConnectionError as RedisConnectionError
from redis import Redis
from redis import TimeoutError as RedisTimeoutError
from rq.cron import CronScheduler

from config.logging import configure_logging
from config.settings import settings_or_exit

SCHEDULE = "config/schedule.py"
RECONNECT_PAUSE_S = 2


def main() -> int:
    settings = settings_or_exit()
    configure_logging(settings.log_level, settings.secret_values())
    log = logging.getLogger("recbridge.clock")
    connection = Redis.from_url(settings.redis_url, socket_connect_timeout=5)
    while True:
        try:
            scheduler = CronScheduler(connection=connection, logging_level=settings.log_level)
            scheduler.load_config_from_file(SCHEDULE)
            scheduler.start()  # type: ignore[no-untyped-call]
            return 0
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.error("clock.redis_lost", extra={"error": str(exc)})
            time.sleep(RECONNECT_PAUSE_S)


if __name__ == "__main__":
    sys.exit(main())
