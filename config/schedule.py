"""Periodic jobs for any number of `clock` processes (``rq cron``), as ``workers.jobs``
declares them. A clock is optional: every worker runs the same duties from its upkeep
thread (``workers.upkeep``), and each job claims its time slot before acting
(``workers.periodic``), so several clocks never double an effect."""

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
