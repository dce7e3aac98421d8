"""Four real worker processes racing over one shuffled stream: no lost or doubled update."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest
import redis as redis_lib
from rq import Queue
from rq.registry import StartedJobRegistry

from tests.support import processes
from tests.support.lifecycle import lifecycle, with_resends
from workers import keys, sessions, transitions
from workers.inbox import Submission, drain_job_id, submit
from workers.jobs import DRAIN_TIMEOUT_S
from workers.queues import EVENTS_QUEUE, JobPolicy, events_queue

pytestmark = pytest.mark.integration

SESSIONS = 50
UIDS = tuple(str(100 + i) for i in range(10))  # 37 events per session: 1,850 distinct


def wait_quiet(redis: redis_lib.Redis, timeout_s: float = 120) -> None:
    """Until no drain is pending, queued or running."""
    queue = Queue(EVENTS_QUEUE, connection=redis)
    started = StartedJobRegistry(EVENTS_QUEUE, connection=redis)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        busy = redis.keys(keys.pending("*")) or queue.count or started.count
        if not busy:
            return
        time.sleep(0.1)
    raise TimeoutError("workers did not finish")


def test_four_workers_match_the_serial_replay(redis_url: str, redis: redis_lib.Redis) -> None:
    rng = random.Random(20261123)
    per_session = {f"race-{i:02d}": lifecycle(f"race-{i:02d}", uids=UIDS) for i in range(SESSIONS)}
    stream: list[dict[str, Any]] = []
    for events in per_session.values():
        stream.extend(with_resends(events, rng, share=0.3))
    rng.shuffle(stream)
    assert len(stream) >= 2000

    workers = [processes.start("worker", {"REDIS_URL": redis_url}) for _ in range(4)]
    try:
        queue = events_queue(redis)

        def produce(part: list[dict[str, Any]]) -> None:
            client = redis_lib.Redis.from_url(redis_url)
            local_queue = events_queue(client)
            for event in part:
                sid = event["payload"]["sid"]
                sub = Submission(event["noticeId"], "s:" + sid, event, 1)
                submit(client, local_queue, sub, dedupe_ttl_s=600, policy=JobPolicy(600, (1,)))

        threads = [threading.Thread(target=produce, args=(stream[i::4],)) for i in range(4)]
        for thread in threads:
            thread.start()
        # Extra drains of the same sessions, as a retried or replayed job would be: two
        # workers then drain one session at once, which the transaction must survive.
        for sid in list(per_session)[::2]:
            queue.enqueue_call(
                "workers.drain.drain",
                args=("s:" + sid,),
                job_id=drain_job_id("s:" + sid),
                timeout=DRAIN_TIMEOUT_S,
            )
        for thread in threads:
            thread.join()
        wait_quiet(redis)
    finally:
        logs = [processes.stop(w) for w in workers]

    assert all("Traceback" not in err for _, err in logs), logs
    for sid, events in per_session.items():
        expected = transitions.fold(events)
        assert sessions.load(redis, sid) == expected, sid
        assert redis.hlen(keys.timeline(sid)) == len(events)
    print(
        f"\n{len(stream)} callbacks ({len(stream) - SESSIONS * len(per_session['race-00'])} "
        f"copies) over {SESSIONS} sessions, 4 workers: all sessions equal their serial replay"
    )
