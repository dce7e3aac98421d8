"""Lua scripts run by their SHA1, loaded into Redis only when Redis says it lacks them.

redis-py's ``Script`` does the same, but costs more per call than a short script takes in
Redis, and inside a pipeline it asks ``SCRIPT EXISTS`` on every ``execute()``: one extra
round trip per callback or per drain, the hottest paths there are.
"""

from __future__ import annotations

import hashlib
from typing import Any

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import NoScriptError


class LuaScript:
    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    def run(self, connection: Redis | Pipeline, keys: list[str], args: list[Any]) -> Any:
        """Run now (a client, or a pipeline that is WATCHing and so runs commands at once)."""
        try:
            return connection.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:  # a restarted or flushed Redis has forgotten it
            connection.script_load(self.source)
            return connection.evalsha(self.sha, len(keys), *keys, *args)

    def queue(self, pipe: Pipeline, keys: list[str], args: list[Any]) -> None:
        """Add to a MULTI block. If Redis lacks the script, ``execute()`` raises
        ``NoScriptError`` after every other command of the block was applied: the caller
        then calls ``run`` on its own."""
        pipe.evalsha(self.sha, len(keys), *keys, *args)
