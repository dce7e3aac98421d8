"""One request budget per App ID, shared by every process through Redis.

A sliding one-second log (a sorted set of request times, from Redis's own clock so all
machines agree): a request may go when fewer than ``limit`` were sent in the last second.

Priorities: ``reserved`` of the ``per_second`` slots are kept for the calls that start and
stop recordings (acquire, start, stop, update). A ``query`` may go only while fewer than
``per_second - reserved`` were sent, so however many sessions are polled, a start or stop
finds room within the second.
"""

from __future__ import annotations

import secrets
import time

from redis import Redis

from workers import keys
from workers.lua import LuaScript

# KEYS[1] the log; ARGV[1] limit, ARGV[2] window in microseconds, ARGV[3] a unique member.
# Returns 0 when the request may go now, else microseconds to wait.
TAKE = LuaScript("""
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3] .. ':' .. now)
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tonumber(oldest[2]) + window - now + 1
""")


# A little over a second: requests leave here a few milliseconds before Agora counts them,
# and that jitter must not push 11 into one of Agora's seconds.
WINDOW_US = 1_050_000


RATE_WAIT_MAX_S = 30.0  # the longest one request waits for budget before it counts as failed


class RateLimitTimeout(Exception):
    pass


class SharedRateLimit:
    def __init__(self, connection: Redis, app_id: str, per_second: int, reserved: int = 0) -> None:
        self._connection = connection
        self._key = keys.rate_limit(app_id)
        self._limit = per_second
        self._low_limit = max(1, per_second - reserved)
        self._counter = 0
        self._tag = secrets.token_hex(6)  # unique across processes and machines

    def acquire(self, max_wait_s: float = RATE_WAIT_MAX_S, *, priority: bool = True) -> float:
        """Block until a request may be sent; returns the seconds waited. A request without
        ``priority`` (a query) leaves the reserved slots to those with it."""
        limit = self._limit if priority else self._low_limit
        waited = 0.0
        while True:
            self._counter += 1
            member = f"{self._tag}:{self._counter}"
            wait_us = int(TAKE.run(self._connection, [self._key], [limit, WINDOW_US, member]))
            if wait_us == 0:
                return waited
            if waited >= max_wait_s:
                raise RateLimitTimeout(f"no Agora request budget within {max_wait_s} s")
            pause = wait_us / 1_000_000
            time.sleep(pause)
            waited += pause
