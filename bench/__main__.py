"""``make bench``: ingest, processing, end to end, memory and recording control, side by
side in one run (``make bench BENCH_ARGS="--parts control"`` for a subset)."""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import control, endtoend, ingest, memory, notify, processing, proxy, replicated
from tests.support.redis_server import RedisServer


def _table(title: str, rows: list[dict[str, object]], columns: list[str]) -> None:
    print(f"\n## {title}\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        cells = [f"{row[c]:,.1f}" if isinstance(row[c], float) else str(row[c]) for c in columns]
        print("| " + " | ".join(cells) + " |")


def _verdict(name: str, ok: bool, detail: str) -> str:
    return f"- [{'x' if ok else ' '}] {name}: {detail}"


PARTS = ("ingest", "replicated", "processing", "endtoend", "memory", "proxy", "control", "notify")
ON_REQUEST = frozenset({"control"})  # a simulated hour, twice: ~15 minutes
NEEDS_WRK = frozenset({"ingest", "replicated", "endtoend", "proxy", "notify"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved ingest rounds")
    parser.add_argument("--events", type=int, default=20_000, help="events per processing run")
    parser.add_argument(
        "--parts",
        default=",".join(p for p in PARTS if p not in ON_REQUEST),
        help=f"comma-separated subset of {', '.join(PARTS)} (control only when named)",
    )
    parser.add_argument("--control-recordings", type=int, default=1000)
    parser.add_argument(
        "--control-scale", type=float, default=0.1, help="EMULATOR_TIME_SCALE of the control run"
    )
    parser.add_argument("--control-sim-s", type=float, default=3600, help="simulated seconds")
    parser.add_argument(
        "--control-spread-s", type=float, default=300, help="simulated seconds to ask over"
    )
    parser.add_argument("--control-outage-s", type=float, default=60, help="0: no outage run")
    parser.add_argument("--control-workers", type=int, default=6)
    args = parser.parse_args()
    parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    if unknown := set(parts) - set(PARTS):
        parser.error(f"--parts: unknown part(s) {', '.join(sorted(unknown))}")
    if NEEDS_WRK & set(parts) and shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk (make bench does it)")
    _print_machine()
    server = RedisServer().start()
    workdir = Path(tempfile.mkdtemp(prefix="recbridge-bench-"))
    verdicts: list[str] = []
    try:
        for part in parts:
            print(f"measuring {part} ...", file=sys.stderr)
            verdicts += MEASURE[part](server.url, workdir, args)
    finally:
        server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    print("\n## Targets\n")
    print("\n".join(verdicts))
    return 0


def _print_machine() -> None:
    redis_version = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[2]
    print(
        f"# recbridge benchmark\n\nmachine: {platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} cores, Python {platform.python_version()},"
        f" Redis {redis_version.removeprefix('v=')}, "
        + ", ".join(
            f"{name} {_version(name)}"
            for name in ("gunicorn", "flask", "marshmallow", "rq", "redis", "hiredis", "orjson")
        )
        + f", wrk {_wrk_version()}"
    )


def _version(package: str) -> str:
    return importlib.metadata.version(package)


def _wrk_version() -> str:
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    words = (out.stdout + out.stderr).split()
    return words[1] if len(words) > 1 else "?"


def _ingest(redis_url: str, workdir: Path, args: argparse.Namespace) -> list[str]:
    rows = ingest.run(redis_url, workdir, args.seconds, args.rounds)
    _table(
        f"Ingest (POST /agora/ncs under the Procfile's gunicorn, wrk; max_rps is the median "
        f"of {args.rounds} interleaved rounds)",
        rows,
        ["app", "max_rps", "rounds", "rate", "p50_ms", "p99_ms", "non_2xx"],
    )
    ceiling, peer, ours = (float(row["max_rps"]) for row in rows)  # type: ignore[arg-type]
    p99 = float(rows[2]["p99_ms"])  # type: ignore[arg-type]
    return [
        _verdict("ingest >= 2x peer", ours >= 2 * peer, f"{ours / peer:.2f}x"),
        _verdict("ingest >= 60% of ceiling", ours >= 0.6 * ceiling, f"{100 * ours / ceiling:.0f}%"),
        _verdict("p99 <= 15 ms at half saturation", p99 <= 15, f"{p99:.1f} ms"),
    ]


def _processing(redis_url: str, workdir: Path, args: argparse.Namespace) -> list[str]:
    rows = processing.run(redis_url, args.events, baseline_count=200)
    _table(
        "Processing (events applied to sessions)",
        rows,
        ["setup", "events", "seconds", "events_per_s"],
    )
    coalesced, worst, default, bare = (float(row["events_per_s"]) for row in rows)  # type: ignore[arg-type]
    verdicts = []
    for label, mine in (("20 events/session", coalesced), ("1 event/session", worst)):
        verdicts += [
            _verdict(
                f"processing >= 10x RQ default Worker ({label})",
                mine >= 10 * default,
                f"{mine / default:,.0f}x",
            ),
            _verdict(
                f"processing >= 50% of bare loop ({label})",
                mine >= 0.5 * bare,
                f"{100 * mine / bare:.0f}%",
            ),
        ]
    return verdicts


def _endtoend(redis_url: str, workdir: Path, args: argparse.Namespace) -> list[str]:
    e2e = endtoend.run(redis_url, workdir, rate=300, seconds=args.seconds)
    _table(
        "End to end (callback received -> session updated)",
        [e2e],
        ["rate", "events", "p50_ms", "p99_ms", "max_ms", "non_2xx", "web_rss_mb", "worker_rss_mb"],
    )
    return [
        _verdict(
            "end to end p99 <= 50 ms at 300 events/s",
            e2e["p99_ms"] <= 50,
            f"{e2e['p99_ms']:.0f} ms at {e2e['rate']:.0f}/s",
        )
    ]


def _memory(redis_url: str, workdir: Path, args: argparse.Namespace) -> list[str]:
    mem = memory.run(redis_url)
    _table(
        "Redis memory, bytes (a callback until drained: queued event + marker; sessions of "
        "16 events: their keys and index entries; live after 8 events)",
        [mem],
        [
            "per_acknowledged_callback",
            "per_marker",
            "per_live_session",
            "per_finished_session",
            "per_finished_session_compacted",
        ],
    )
    compacted = mem["per_finished_session_compacted"]
    return [
        _verdict(
            "finished 16-event session <= 2 KB once compacted",
            compacted <= 2048,
            f"{compacted:,.0f} bytes",
        )
    ]


def _proxy(redis_url: str, workdir: Path, args: argparse.Namespace) -> list[str]:
    rows = proxy.run(redis_url, workdir, args.seconds, rounds=2)
    _table(
        "gunicorn setups behind nginx (deploy/nginx); slow_* with 200 clients sending headers "
        "byte by byte to nginx; direct_10_slow: callbacks with 10 such clients on gunicorn",
        rows,
        [
            "setup",
            "max_rps",
            "rounds",
            "p99_ms",
            "direct_rps",
            "slow_p50_ms",
            "slow_max_ms",
            "direct_10_slow",
            "web_rss_mb",
        ],
    )
    chosen = rows[0]
    slow_max = float(chosen["slow_max_ms"])  # type: ignore[arg-type]
    return [
        _verdict(
            "behind nginx, 200 slow clients leave callbacks answered within 100 ms",
            slow_max <= 100,
            f"max {slow_max:.0f} ms ({chosen['setup']})",
        )
    ]


def _control(redis_url: str, workdir: Path, args: argparse.Namespace) -> list[str]:
    rows = []
    for outage in (0.0, args.control_outage_s) if args.control_outage_s else (0.0,):
        row = control.run(
            redis_url,
            count=args.control_recordings,
            scale=args.control_scale,
            sim_seconds=args.control_sim_s,
            spread_sim_s=args.control_spread_s,
            outage_sim_s=outage,
            workers=args.control_workers,
        )
        rows.append({"outage_s": outage, **row})
    _table(
        f"Recording control ({args.control_recordings} recordings, one App ID, Agora's 10 QPS, "
        f"time scale {args.control_scale}; times in simulated seconds)",
        rows,
        [
            "outage_s",
            "recordings",
            "sim_hours",
            "real_s",
            "start_p50_real_s",
            "start_p99_real_s",
            "queries_per_rec_hour",
            "http_429",
            "mismatched",
            "untracked_live",
            "query_rate_before",
            "query_rate_after",
            "outage_503",
        ],
    )
    calm = rows[0]
    verdicts = [
        _verdict(
            "start p99 <= 2 s", calm["start_p99_real_s"] <= 2, f"{calm['start_p99_real_s']:.2f} s"
        ),
        _verdict("0 answers of 429", all(r["http_429"] == 0 for r in rows), "see table"),
        _verdict(
            "every recording equals the emulator's truth",
            all(r["mismatched"] == 0 and r["untracked_live"] == 0 for r in rows),
            "see table",
        ),
    ]
    if len(rows) > 1:
        before, after = rows[1]["query_rate_before"], rows[1]["query_rate_after"]
        verdicts.append(
            _verdict(
                "query rate after the outage within 1.2x of before",
                after <= 1.2 * before,
                f"{after:.2f}/s after vs {before:.2f}/s before",
            )
        )
    return verdicts


def _replicated(redis_url: str, workdir: Path, args: argparse.Namespace) -> list[str]:
    rows = replicated.run(redis_url, workdir, args.seconds, args.rounds)
    _table(
        "Ingest with replicated acknowledgement (a local replica attached in both setups; "
        f"median of {args.rounds} interleaved rounds)",
        rows,
        ["setup", "max_rps", "rounds", "p99_ms", "non_2xx"],
    )
    without, with_wait = (float(row["max_rps"]) for row in rows)  # type: ignore[arg-type]
    return [
        _verdict(
            "ingest with REDIS_MIN_REPLICAS=1 >= 80% of without",
            with_wait >= 0.8 * without,
            f"{100 * with_wait / without:.0f}%",
        )
    ]


def _notify(redis_url: str, workdir: Path, args: argparse.Namespace) -> list[str]:
    sent = notify.throughput(redis_url, workdir)
    _table(
        f"Notification delivery ({WORKERS_NOTE}, to a local receiver)",
        [sent],
        ["messages", "seconds", "per_s"],
    )
    lag = notify.latency(redis_url, workdir, rate=300, seconds=args.seconds)
    _table(
        "Notification latency (state change -> 2xx at the receiver) under the end-to-end load",
        [lag],
        ["rate", "messages", "p50_ms", "p99_ms", "max_ms"],
    )
    return []


WORKERS_NOTE = "the Procfile's workers"

MEASURE = {
    "ingest": _ingest,
    "replicated": _replicated,
    "processing": _processing,
    "endtoend": _endtoend,
    "memory": _memory,
    "proxy": _proxy,
    "control": _control,
    "notify": _notify,
}


if __name__ == "__main__":
    sys.exit(main())
