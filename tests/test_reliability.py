"""No acknowledged event lost, each applied once: Redis restarts (AOF) and workers SIGKILLed
while an NCS-like sender drives the real gunicorn and worker processes."""

from __future__ import annotations

import random
import re
import threading
import time
from typing import Any

import orjson
import pytest
import redis as redis_lib
import requests
from rq import Queue, Worker
from rq.registry import FailedJobRegistry, StartedJobRegistry

from tests.support.lifecycle import lifecycle, with_resends
from tests.support.redis_server import RedisServer
from tests.support.sender import SendLog, send_like_ncs
from tests.support.service import run_service
from workers import keys, sessions, transitions

pytestmark = [pytest.mark.integration, pytest.mark.reliability]
SESSIONS = 40
SENDERS = 4


def quiet(redis: redis_lib.Redis) -> bool:
    """Every stream drained: nothing pending, nothing ready, no inbox left."""
    return not (
        redis.keys(keys.pending("*")) or redis.llen(keys.READY) or redis.keys(keys.inbox("*"))
    )


def test_no_acknowledged_event_lost_through_restarts_and_kills() -> None:
    server = RedisServer(appendonly=True).start()
    rng = random.Random(1123)
    per_session = {
        f"rel-{i:02d}": lifecycle(f"rel-{i:02d}", uids=("1", "2", "3")) for i in range(SESSIONS)
    }
    stream: list[dict[str, Any]] = []
    for events in per_session.values():
        stream.extend(with_resends(events, rng, share=0.3))
    rng.shuffle(stream)
    log = SendLog()
    chaos: list[str] = []
    try:
        with run_service(server.url, {"LOG_LEVEL": "WARNING"}, workers=2) as service:
            url = f"{service.base}/agora/ncs"
            senders = [
                threading.Thread(target=send_like_ncs, args=(url, stream[i::SENDERS], log))
                for i in range(SENDERS)
            ]
            for sender in senders:
                sender.start()
            for round_ in range(3):
                time.sleep(0.8)
                server.stop()  # SIGTERM: Redis writes its AOF and exits
                time.sleep(0.5)
                server.start()
                chaos.append(f"redis restarted (round {round_})")
                time.sleep(0.8)
                victim = next(w for w in service.workers if w.poll() is None)
                victim.kill()  # SIGKILL, most likely in the middle of a drain
                victim.wait()
                chaos.append(f"worker {victim.pid} SIGKILLed")
                service.add_worker()  # as a process manager would
            for sender in senders:
                sender.join()
            redis = redis_lib.Redis(port=server.port)
            started = time.monotonic()
            stuck = None
            while not quiet(redis):
                if time.monotonic() - started > 90:
                    stuck = _diagnose(redis)
                    break
                time.sleep(0.1)
            settle_s = time.monotonic() - started
            applied_new = _metric(service.base, 'recbridge_events_applied_total{result="new"}')
        if stuck is not None:
            tails = [text[-3000:] for pair in service.logs for text in pair]
            pytest.fail(f"undrained: {stuck}\n" + "\n----\n".join(tails))
        figures = _check(redis, per_session, log)
    finally:
        server.cleanup()
    print(
        f"\nreliability: {figures} | applied_new metric {applied_new:.0f} | "
        f"settled {settle_s:.1f}s after the last send | answers {dict(log.answers)} | {chaos}"
    )
    assert figures["lost"] == 0 and figures["duplicates_applied"] == 0
    assert log.answers["503"] > 0, "the outage was not exercised"
    assert applied_new <= figures["distinct_applied"]  # no event counted as applied twice


def _diagnose(redis: redis_lib.Redis) -> dict[str, Any]:
    queue = Queue("recbridge-events", connection=redis)
    return {
        "pending": len(redis.keys(keys.pending("*"))),
        "ready": redis.llen(keys.READY),
        "inboxes": len(redis.keys(keys.inbox("*"))),
        "drainers": redis.zrange(keys.DRAINERS, 0, -1, withscores=True),
        "draining": redis.keys(keys.draining("*")),
        "queued": queue.count,
        "started": StartedJobRegistry(queue=queue).get_job_ids(),
        "failed": FailedJobRegistry(queue=queue).count,
        "time": redis.time(),
        "workers": [(w.name, w.get_state()) for w in Worker.all(connection=redis)],
        "scheduled": redis.zcard("rq:scheduled:recbridge-events"),
    }


def _metric(base: str, name: str) -> float:
    text = requests.get(f"{base}/metrics", timeout=5).text
    match = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def _check(
    redis: redis_lib.Redis, per_session: dict[str, list[dict[str, Any]]], log: SendLog
) -> dict[str, int]:
    acknowledged = {(e["payload"]["sid"], transitions.event_identity(e)) for e in log.acknowledged}
    lost = duplicates = distinct = 0
    for sid in per_session:
        entries = redis.hgetall(keys.timeline(sid))
        identities = {k.decode() for k in entries}
        distinct += len(identities)
        lost += sum(1 for s, i in acknowledged if s == sid and i not in identities)
        applied = [orjson.loads(v)["event"] for v in entries.values()]
        duplicates += len(applied) - len({transitions.event_identity(e) for e in applied})
        assert sessions.load(redis, sid) == transitions.fold(applied), sid
    return {
        "sent": len(log.acknowledged) + len(log.given_up),
        "acknowledged": len(log.acknowledged),
        "given_up": len(log.given_up),
        "distinct_acknowledged": len(acknowledged),
        "distinct_applied": distinct,
        "lost": lost,
        "duplicates_applied": duplicates,
    }
