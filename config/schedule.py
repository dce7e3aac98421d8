"""Periodic jobs, declared as data, for the `clock` process (``rq cron``). Run one clock."""

from rq import cron

from workers.drain import watch_drainers
from workers.queues import CONTROL_QUEUE, EVENTS_QUEUE
from workers.session_queries import sweep_expired_job

cron.register(watch_drainers, EVENTS_QUEUE, interval=5, job_timeout=30, result_ttl=0)
cron.register(sweep_expired_job, CONTROL_QUEUE, interval=3600, job_timeout=300, result_ttl=0)
