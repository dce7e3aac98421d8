"""Periodic duties without a singleton.

Every worker runs them from a small upkeep thread (``workers.upkeep``), and any number of
``clock`` processes (RQ's cron, ``config/schedule.py``) may queue them too. Whoever asks, a
duty acts at most once per time slot: it first *claims* the slot in Redis, by Redis's clock,
so several clocks and workers never double its effect, and none of them is needed as long
as one worker runs. The duties are the periodic entries of ``workers.jobs``.
"""

from __future__ import annotations

from redis import Redis

from workers import jobs, keys
from workers.lua import LuaScript
from workers.queues import JobPolicy

# KEYS: claim. ARGV: slot length (s). 1 when this caller has the current slot, else 0.
CLAIM = LuaScript("""
local slot = math.floor(tonumber(redis.call('TIME')[1]) / tonumber(ARGV[1]))
local last = tonumber(redis.call('GET', KEYS[1]) or '-1')
if slot <= last then return 0 end
redis.call('SET', KEYS[1], slot, 'EX', 2 * tonumber(ARGV[1]))
return 1
""")


def claim(connection: Redis, name: str, interval_s: int) -> bool:
    """Whether the caller may act for the current slot of ``interval_s`` seconds."""
    return int(CLAIM.run(connection, [keys.periodic_claim(name)], [interval_s])) == 1


def claim_run(connection: Redis, spec: jobs.JobSpec) -> bool:
    """A periodic job's claim to act in this slot (from the job, or an upkeep thread)."""
    assert spec.interval_s is not None, f"{spec.func} is not periodic"
    return claim(connection, spec.short_name, spec.interval_s)


def queue_if_due(connection: Redis, policy: JobPolicy, spec: jobs.JobSpec) -> bool:
    """Queue ``spec``'s job if no one queued it this slot (the job claims again to act)."""
    assert spec.interval_s is not None, f"{spec.func} is not periodic"
    if not claim(connection, f"{spec.short_name}:queued", spec.interval_s):
        return False
    jobs.enqueue(connection, policy, spec)
    return True
