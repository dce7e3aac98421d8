"""Per-process context of a worker: its settings, read once from the environment."""

from __future__ import annotations

from functools import lru_cache

from config.settings import Settings, load_settings


@lru_cache(maxsize=1)
def settings() -> Settings:
    return load_settings()
