"""``make bench``: ingest, processing, end to end and memory, side by side in one run."""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import flask
import gunicorn
import redis
import rq

from bench import endtoend, ingest, memory, processing
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--events", type=int, default=20_000, help="events per processing run")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk (make bench does it)")
    redis_version = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[2]
    print(
        f"# recbridge benchmark\n\nmachine: {platform.machine()}, "
        f"{len(__import__('os').sched_getaffinity(0))} cores, Python {platform.python_version()},"
        f" Redis {redis_version.removeprefix('v=')}, gunicorn {gunicorn.__version__}, "
        f"Flask {flask.__version__}, rq {rq.__version__}, redis-py {redis.__version__}"
    )
    server = RedisServer().start()
    workdir = Path(tempfile.mkdtemp(prefix="recbridge-bench-"))
    try:
        print("\nmeasuring ingest ...", file=sys.stderr)
        ingest_rows = ingest.run(server.url, workdir, args.seconds)
        _table(
            "Ingest (POST /agora/ncs under the Procfile's gunicorn, wrk)",
            ingest_rows,
            ["app", "max_rps", "rate", "p50_ms", "p99_ms", "non_2xx"],
        )
        print("measuring processing ...", file=sys.stderr)
        processing_rows = processing.run(server.url, args.events, baseline_count=200)
        _table(
            "Processing (events applied to sessions)",
            processing_rows,
            ["setup", "events", "seconds", "events_per_s"],
        )
        print("measuring end to end ...", file=sys.stderr)
        e2e = endtoend.run(server.url, workdir, rate=300, seconds=args.seconds)
        _table(
            "End to end (callback received -> session updated)",
            [e2e],
            [
                "rate",
                "events",
                "p50_ms",
                "p99_ms",
                "max_ms",
                "non_2xx",
                "web_rss_mb",
                "worker_rss_mb",
            ],
        )
        print("measuring memory ...", file=sys.stderr)
        mem = memory.run(server.url)
        _table(
            "Redis memory",
            [mem],
            [
                "bytes_per_session",
                "events_per_session",
                "bytes_per_queued_event",
                "bytes_per_dedupe_marker",
            ],
        )
    finally:
        server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)

    ceiling, peer, ours = (row["max_rps"] for row in ingest_rows)
    mine, default, bare = (row["events_per_s"] for row in processing_rows)
    print("\n## Targets\n")
    for line in (
        _verdict("ingest >= 2x peer", ours >= 2 * peer, f"{ours / peer:.2f}x"),  # type: ignore[operator]
        _verdict(
            "ingest >= 60% of ceiling",
            ours >= 0.6 * ceiling,  # type: ignore[operator]
            f"{100 * ours / ceiling:.0f}%",
        ),  # type: ignore[operator]
        _verdict(
            "p99 <= 15 ms at half saturation",
            ingest_rows[2]["p99_ms"] <= 15,  # type: ignore[operator]
            f"{ingest_rows[2]['p99_ms']:.1f} ms",
        ),
        _verdict(
            "processing >= 10x RQ default Worker",
            mine >= 10 * default,  # type: ignore[operator]
            f"{mine / default:.1f}x",
        ),  # type: ignore[operator]
        _verdict(
            "processing >= 50% of bare loop",
            mine >= 0.5 * bare,  # type: ignore[operator]
            f"{100 * mine / bare:.0f}%",
        ),  # type: ignore[operator]
        _verdict(
            "end to end p99 <= 50 ms at 300 events/s",
            e2e["p99_ms"] <= 50,
            f"{e2e['p99_ms']:.0f} ms at {e2e['rate']:.0f}/s",
        ),
    ):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
