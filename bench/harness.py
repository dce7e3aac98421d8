"""Processes and measurements shared by the benchmark parts."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.support import processes
from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[1]
WEB_APP = "'webhook:create_app()'"


@contextmanager
def gunicorn(app_spec: str, env: Mapping[str, str]) -> Iterator[tuple[str, int]]:
    """The Procfile's `web` command, serving ``app_spec`` instead of recbridge's app."""
    command = processes.procfile_command("web").replace(WEB_APP, f"'{app_spec}'")
    port = free_port()
    process = processes._spawn(["bash", "-c", f"exec {command}"], {**env, "PORT": str(port)})
    try:
        processes.wait_http(f"http://127.0.0.1:{port}/healthz", process)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        processes.stop(process)


def _ms(value: str) -> float:
    number, unit = float(re.match(r"[0-9.]+", value).group()), re.sub(r"[0-9.]", "", value)  # type: ignore[union-attr]
    return number * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(
    url: str,
    requests_file: Path,
    *,
    seconds: int,
    connections: int,
    rate_per_connection: float = 0.0,
    threads: int = 2,
) -> dict[str, float]:
    """Run wrk with the NCS script; returns requests/s, p50/p99 ms and non-2xx count."""
    args = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(ROOT / "bench" / "ncs.lua"),
        f"{url}/agora/ncs",
        "--",
        str(requests_file),
        str(rate_per_connection),
        str(threads),
    ]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.MULTILINE))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(latency["50"]),
        "p99_ms": _ms(latency["99"]),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
    }


def rss_mb(pid: int, with_children: bool = True) -> float:
    """Resident memory of a process (and its children, e.g. gunicorn's workers)."""
    pids = [pid, *(processes.child_pids(pid) if with_children else [])]
    total_kb = 0
    for each in pids:
        status = Path(f"/proc/{each}/status")
        if status.exists():
            match = re.search(r"VmRSS:\s+(\d+) kB", status.read_text())
            total_kb += int(match.group(1)) if match else 0
    return total_kb / 1024
