"""gunicorn settings for the ``web`` process (the bind address comes from the Procfile)."""

from __future__ import annotations

import multiprocessing
from typing import Any

from config.metrics import prepare
from config.settings import settings_or_exit

# One sync worker per core (at least two). gunicorn's usual 2 x cores + 1 measured no faster
# here (docs/performance.md) and costs a process each; GUNICORN_CMD_ARGS="--workers N"
# overrides.
workers = max(2, multiprocessing.cpu_count())
worker_class = "sync"
timeout = 30
graceful_timeout = 20
keepalive = 15
accesslog = None
errorlog = "-"
# gunicorn 27's control socket has one default path per user: several gunicorns on one
# machine (blue/green, tests) would fight over it.
control_socket_disable = True


def on_starting(server: Any) -> None:
    """Refuse to start, in one line naming the variable, when a setting is wrong; prepare
    the shared metrics directory before any worker imports prometheus-client."""
    prepare(settings_or_exit(web=True), "web")


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess  # noqa: PLC0415 - only after prepare()

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
