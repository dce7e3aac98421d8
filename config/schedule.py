"""Periodic jobs for the `clock` process (``rq cron``), as ``workers.jobs`` declares them."""

from rq import cron
from rq.utils import import_attribute

from workers.jobs import PERIODIC

for _spec in PERIODIC:
    cron.register(
        import_attribute(_spec.func),
        _spec.queue,
        interval=_spec.interval_s,
        job_timeout=_spec.timeout_s,
        result_ttl=_spec.result_ttl_s,
    )
