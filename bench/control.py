"""Recording control at Agora's limits: N concurrent recordings on one App ID for a
simulated hour against the emulator's QPS limit, with time scaled by EMULATOR_TIME_SCALE
(Agora's pacing, recbridge's documented waits and the QPS budget all scale together).

Measures start latency (request -> ``active``, in real seconds: a start has no time-scaled
wait unless Agora fails or the budget is spent, so scaling it would only magnify this
machine's overhead), queries per recording-hour, 429s, whether
every recording's state equals the emulator's truth at the end, and with an optional query
outage in the middle, the query rate before and after it.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import redis as redis_lib

from tests.support.emulated import Emulated, run_emulated
from workers import recordings

AGORA_QPS = 10  # Agora's default per App ID, in simulated seconds
SIM_POLL_S = 60  # RECORDING_POLL_S in simulated seconds


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else math.nan


def _calls(emulated: Emulated) -> tuple[float, list[dict[str, Any]]]:
    answer = emulated.http.get(f"{emulated.emulator}/_emulator/calls", timeout=60).json()
    return float(answer["now"]), list(answer["calls"])


def run(
    redis_url: str,
    *,
    count: int,
    scale: float,
    sim_seconds: float,
    spread_sim_s: float,
    outage_sim_s: float,
    workers: int,
) -> dict[str, Any]:
    """One run; times in the result are simulated seconds unless named ``_real``."""
    connection = redis_lib.Redis.from_url(redis_url)
    connection.flushdb()
    qps_real = max(1, round(AGORA_QPS / scale))
    env = {
        "EMULATOR_TIME_SCALE": str(scale),
        "AGORA_RETRY_SCALE": str(scale),
        "EMULATOR_QPS": str(qps_real),
        "AGORA_QPS": str(qps_real),
        "AGORA_QPS_RESERVED": str(max(1, round(qps_real * 0.3))),
        "RECORDING_POLL_S": str(max(1, round(SIM_POLL_S * scale))),
        "RECORDING_START_CONFIRM_S": str(max(1, round(90 * scale))),
        "EMULATOR_CHANNEL_UIDS": "1001",
        "LOG_LEVEL": "WARNING",
    }
    with run_emulated(redis_url, workers=workers, **env) as emulated:
        began = time.monotonic()
        emulator_began, _ = _calls(emulated)
        ids: list[str] = []
        lock = threading.Lock()

        def ask(first: int, step: int) -> None:
            for i in range(first, count, step):
                due = began + i * spread_sim_s * scale / count
                time.sleep(max(0.0, due - time.monotonic()))
                answer = emulated.api("POST", "/api/recordings", json={"cname": f"bench-{i}"})
                answer.raise_for_status()
                with lock:
                    ids.append(answer.json()["id"])

        askers = [threading.Thread(target=ask, args=(k, 8)) for k in range(8)]
        for thread in askers:
            thread.start()
        for thread in askers:
            thread.join()
        outage_at = began + sim_seconds * scale / 2
        outage_emulator_at = emulator_began + sim_seconds * scale / 2
        if outage_sim_s:
            time.sleep(max(0.0, outage_at - time.monotonic()))
            emulated.http.post(
                f"{emulated.emulator}/_emulator/outage",
                json={"endpoint": "query", "seconds": outage_sim_s * scale},
                timeout=10,
            ).raise_for_status()
        time.sleep(max(0.0, began + sim_seconds * scale - time.monotonic()))
        ended_real = time.monotonic() - began
        stored = [recordings.load(connection, rid) for rid in ids]
        truth = emulated.stats()["sessions"]
        _, logged = _calls(emulated)
    return _summary(
        stored,
        truth,
        logged,
        scale,
        sim_seconds,
        emulator_began,
        outage_emulator_at,
        outage_sim_s,
        ended_real,
    )


def _summary(
    stored: list[dict[str, Any] | None],
    truth: dict[str, dict[str, Any]],
    logged: list[dict[str, Any]],
    scale: float,
    sim_seconds: float,
    emulator_began: float,
    outage_at: float,
    outage_sim_s: float,
    ended_real: float,
) -> dict[str, Any]:
    latencies = [
        (r["session_started_ms"] - r["created_ms"]) / 1000
        for r in stored
        if r and r["session_started_ms"]
    ]
    live_truth = {sid for sid, s in truth.items() if s["state"] != "ended"}
    mismatched = 0
    for r in stored:
        live = r is not None and r["state"] == "active" and r["sid"] in live_truth
        own = [sid for sid in (r or {}).get("sids", []) if sid in live_truth]
        if not live or len(own) != 1:
            mismatched += 1
    tracked = {sid for r in stored if r for sid in r["sids"]}
    untracked = len(live_truth - tracked)
    queries = [c for c in logged if c["endpoint"] == "query"]
    window = 600 * scale  # ten simulated minutes
    settle = 120 * scale
    before = [c for c in queries if outage_at - settle - window <= c["t"] < outage_at - settle]
    after_from = outage_at + outage_sim_s * scale + settle
    after = [c for c in queries if after_from <= c["t"] < after_from + window]
    hours = len(stored) * sim_seconds / 3600
    return {
        "recordings": len(stored),
        "sim_hours": sim_seconds / 3600,
        "real_s": round(ended_real),
        "start_p50_real_s": _percentile(latencies, 0.5),
        "start_p99_real_s": _percentile(latencies, 0.99),
        "started": len(latencies),
        "queries_per_rec_hour": len(queries) / hours if hours else math.nan,
        "calls": len(logged),
        "http_429": sum(1 for c in logged if c["status"] == 429),
        "mismatched": mismatched,
        "untracked_live": untracked,
        "query_rate_before": len(before) / (window / scale),
        "query_rate_after": len(after) / (window / scale),
        "outage_503": sum(1 for c in queries if c["status"] == 503),
    }
