"""GET /metrics: samples of every process, plus gauges read from Redis at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from redis import Redis, RedisError
from rq import Queue
from rq.registry import FailedJobRegistry

from config.metrics import multiprocess_dir, sample_files
from webhook.context import app_state
from workers import keys, recordings, transitions
from workers.notify import store as notify_store
from workers.queues import ALL_QUEUES

metrics_bp = Blueprint("metrics", __name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class RedisStateCollector(Collector):
    def __init__(self, connection: Redis) -> None:
        self._connection = connection

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            yield from self._collect()
        except RedisError:
            up = GaugeMetricFamily("recbridge_redis_up", "Redis answered the scrape")
            up.add_metric([], 0)
            yield up

    def _collect(self) -> Iterator[GaugeMetricFamily]:
        conn = self._connection
        queued = GaugeMetricFamily(
            "recbridge_queue_jobs", "Jobs waiting, by queue", labels=["queue"]
        )
        failed = GaugeMetricFamily(
            "recbridge_failed_jobs", "Jobs in RQ's failed registry", labels=["queue"]
        )
        for name in ALL_QUEUES:
            queue = Queue(name, connection=conn)
            queued.add_metric([name], queue.count)
            failed.add_metric([name], FailedJobRegistry(queue=queue).count)
        sessions = GaugeMetricFamily("recbridge_sessions", "Sessions, by state", labels=["state"])
        for state in transitions.STATES:
            sessions.add_metric([state], conn.zcard(keys.sessions_by_state(state)))
        recs = GaugeMetricFamily("recbridge_recordings", "Recordings, by state", labels=["state"])
        for state in recordings.RECORDING_STATES:
            recs.add_metric([state], conn.zcard(keys.recordings_by_state(state)))
        dead = GaugeMetricFamily("recbridge_dead_letters", "Dead letters kept")
        dead.add_metric([], conn.zcard(keys.DEAD_LETTERS))
        up = GaugeMetricFamily("recbridge_redis_up", "Redis answered the scrape")
        up.add_metric([], 1)
        yield from (queued, failed, sessions, recs, dead, up)
        yield from _notify_gauges(conn)


def _notify_gauges(conn: Redis) -> Iterator[GaugeMetricFamily]:
    backlog = GaugeMetricFamily(
        "recbridge_notify_backlog",
        "Notifications waiting to be delivered (or in flight), by endpoint",
        labels=["endpoint"],
    )
    ids = sorted(keys.members(conn.smembers(keys.NOTIFY_ENDPOINTS)))
    for endpoint_id, waiting in notify_store.backlog(conn, ids).items():
        backlog.add_metric([endpoint_id], waiting)
    outbox = GaugeMetricFamily("recbridge_notify_outbox", "Notifications not yet fanned out")
    outbox.add_metric([], conn.llen(keys.NOTIFY_OUTBOX))
    yield from (backlog, outbox)


class _PooledSamples(Collector):
    """The samples of every process tree of this stack (each has its own directory)."""

    def collect(self) -> Iterator[Metric]:
        return iter(MultiProcessCollector.merge(sample_files(), accumulate=True))  # type: ignore[no-untyped-call]


@metrics_bp.get("/metrics")
def metrics() -> Response:
    if multiprocess_dir():
        registry = CollectorRegistry()
        registry.register(_PooledSamples())
        samples = generate_latest(registry)
    else:  # one process (tests, a single worker): its own samples
        samples = generate_latest(REGISTRY)
    state_registry = CollectorRegistry()
    state_registry.register(RedisStateCollector(app_state().redis))
    return Response(samples + generate_latest(state_registry), content_type=CONTENT_TYPE)
