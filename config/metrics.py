"""Where the processes of one machine pool their Prometheus samples."""

from __future__ import annotations

import os

from config.settings import Settings

_prepared_dir: str | None = None


def prepare(settings: Settings) -> None:
    """Point prometheus-client at the shared directory. Must run before it is imported,
    which is why gunicorn's config and the RQ worker's config module call it first."""
    global _prepared_dir  # noqa: PLW0603 - once per process tree, before any fork
    os.makedirs(settings.metrics_dir, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = settings.metrics_dir
    _prepared_dir = settings.metrics_dir


def multiprocess_dir() -> str | None:
    """The shared directory when this process tree pools its samples, else None."""
    return _prepared_dir
