"""Prometheus metrics of every outcome, shared by web and worker processes.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``config.metrics.prepare`` does it for gunicorn and
the RQ worker), every process writes its samples there and ``GET /metrics`` adds them up.
Gauges of what is in Redis (queues, sessions, recordings) are read at scrape time instead.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

CALLBACKS = Counter(
    "recbridge_ncs_callbacks_total", "NCS callbacks answered, by outcome", ["outcome"]
)
EVENTS = Counter(
    "recbridge_ncs_events_total",
    "Accepted NCS events, by product and event type",
    ["product", "event_type"],
)
APPLY_LATENCY = Histogram(
    "recbridge_event_apply_latency_seconds",
    "From callback receipt to event applied",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
EVENTS_APPLIED = Counter(
    "recbridge_events_applied_total",
    "Events taken from inboxes: new, or copies folded away",
    ["result"],
)
AGORA_REQUESTS = Counter(
    "recbridge_agora_requests_total",
    "Agora REST calls, by endpoint and outcome",
    ["endpoint", "outcome"],
)
AGORA_LATENCY = Histogram(
    "recbridge_agora_request_seconds",
    "Agora REST call latency",
    ["endpoint"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RATE_LIMIT_WAIT = Histogram(
    "recbridge_agora_rate_limit_wait_seconds",
    "Time spent waiting for the shared QPS budget",
    buckets=(0, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
)
RESTARTS = Counter(
    "recbridge_recording_restarts_total", "Recordings restarted, by reason", ["reason"]
)
DEAD_LETTERS = Counter("recbridge_dead_letters_total", "Jobs that failed for good", ["func"])
REPLAYS = Counter("recbridge_dead_letter_replays_total", "Dead letters queued again")
# ---- recording control at Agora's limits ----
AGORA_DOMAIN_SWITCHES = Counter(
    "recbridge_agora_domain_switches_total", "Moves to the next of AGORA_API_BASES"
)
CONTROL_RESUMED = Counter(
    "recbridge_control_jobs_resumed_total", "Control jobs queued again after their worker died"
)
POLLS = Counter(
    "recbridge_recording_polls_total",
    "Poll jobs, by whether they queried Agora or found the callbacks fresh",
    ["outcome"],
)

# ---- notifications (issue 15) ----
NOTIFY_ATTEMPTS = Counter(
    "recbridge_notify_attempts_total",
    "Notification delivery attempts, by endpoint and outcome",
    ["endpoint", "outcome"],
)
NOTIFY_LATENCY = Histogram(
    "recbridge_notify_delivery_latency_seconds",
    "From the state change to a 2xx answer from the endpoint",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)
NOTIFY_DISABLED = Counter(
    "recbridge_notify_endpoints_disabled_total",
    "Endpoints disabled by delivery (gone: 410; failing: NOTIFY_DISABLE_AFTER_S)",
    ["reason"],
)
NOTIFY_DEAD = Counter(
    "recbridge_notify_dead_letters_total", "Messages that failed for good at an endpoint"
)
