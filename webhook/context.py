"""What the app factory builds once and every request uses."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app
from redis import Redis
from rq import Queue

from config.settings import Settings
from workers.queues import JobPolicy


@dataclass(frozen=True)
class AppState:
    settings: Settings
    redis: Redis
    events_queue: Queue
    job_policy: JobPolicy
    ncs_secrets: tuple[str, ...] = field(repr=False)


def app_state() -> AppState:
    state: AppState = current_app.extensions["recbridge"]
    return state
