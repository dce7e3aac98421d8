"""RQ's own log lines, as recbridge logs them: a stable ``event`` name each, RQ's text in
``message``, and RQ's per-job chatter (a line or four for every job, also the periodic
watchdog jobs every few seconds) at DEBUG, so an idle service writes nothing.

RQ writes free text, some of it from f-strings, so lines are recognised by their text.
"""

from __future__ import annotations

import logging
import re

# (pattern on RQ's text, event). First match wins; the order matters where texts nest.
RQ_EVENTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), event)
    for pattern, event in (
        (r"^Worker \S+: started with PID", "rq.worker.started"),
        (r"^\*\*\* Listening on", "rq.worker.listening"),
        (r"^Worker \S+: cleaning (group )?registries", "rq.worker.maintenance"),
        (r"^Worker \S+: (un)?subscribing (from|to) channel", "rq.worker.pubsub"),
        (r"^Worker \S+ \[PID \d+\]: warm shut down requested", "rq.worker.stop_requested"),
        (
            r"warm shut down requested|^Imminent shutdown|ShutDownImminent",
            "rq.worker.stop_requested",
        ),
        (r"^Worker \S+: stopping on request", "rq.worker.stopping"),
        (r"^Worker \S+: cold shut down", "rq.worker.cold_shutdown"),
        (r"^Worker \S+: Redis connection timeout", "rq.worker.redis_timeout"),
        (r"^Worker \S+: found an unhandled exception", "rq.worker.crashed"),
        (r"^Worker \S+: pubsub thread exiting", "rq.worker.pubsub_lost"),
        (r"^Worker \S+: (suspended|note: there could)", "rq.worker.suspended"),
        (r"^Worker \S+: (done|idle for|finished executing)", "rq.worker.quitting"),
        (r"^Worker \S+: killed horse", "rq.worker.horse_killed"),
        (r"^Work horse killed", "rq.worker.horse_killed"),
        (r"^Worker \S+: failed to", "rq.job.bookkeeping_failed"),
        (r"^Worker \S+: job \S+ has exceeded maximum retry", "rq.job.retries_exhausted"),
        (r"^Worker \S+: job \S+ failed \(", "rq.job.failed"),
        (r"^Worker \S+: job \S+ stopped by user", "rq.job.stopped"),
        (r"^Worker \S+: job \S+ (result|scheduled to repeat)", "rq.job.result"),
        (r"^Worker \S+: \S+: Job OK", "rq.job.finished"),
        (r"^Successfully completed", "rq.job.completed"),
        (r"^Worker \S+: \S+: ", "rq.job.started"),
        (r"^Acquired scheduler lock", "rq.scheduler.lock_acquired"),
        (r"^Scheduler lock|^Scheduler locks", "rq.scheduler.lock_lost"),
        (r"^Scheduler stopping", "rq.scheduler.stopping"),
        (r"^Scheduler for .* started with PID", "rq.scheduler.started"),
        (r"^Scheduler with PID \d+ has stopped", "rq.scheduler.stopped"),
        (r"^Scheduler \[PID \d+\] raised an exception", "rq.scheduler.crashed"),
        (r"^Enqueued job ", "rq.cron.enqueued"),
        (r"^Registered '|^Successfully registered|^Loading cron", "rq.cron.configured"),
        (r"^Failed to (register|restore)", "rq.cron.config_failed"),
        (r"^CronScheduler \S+: (starting|registering birth)", "rq.cron.starting"),
        (
            r"^CronScheduler \S+: (received|stop requested|registering death|shutdown)",
            "rq.cron.stopping",
        ),
    )
)
# Said for every job: what the job itself logs (with its job_id) says more.
QUIET = frozenset(
    {
        "rq.job.started",
        "rq.job.completed",
        "rq.job.finished",
        "rq.job.result",
        "rq.cron.enqueued",
        "rq.worker.maintenance",
    }
)


def rq_event(logger: str, text: str) -> str:
    for pattern, event in RQ_EVENTS:
        if pattern.search(text):
            return event
    return f"{logger}.other"


class RqLogFilter(logging.Filter):
    """Names RQ's lines (``record.event``) and lowers its per-job chatter to DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("rq."):
            return True
        text = record.getMessage()
        event = rq_event(record.name, text)
        if event in QUIET and record.levelno == logging.INFO:
            if not logging.getLogger().isEnabledFor(logging.DEBUG):
                return False
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        record.rq_event = event
        record.rq_text = text
        return True
