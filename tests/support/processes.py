"""Start the Procfile's real processes (gunicorn, rq worker) for integration tests."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def procfile_command(name: str, procfile: str = "Procfile") -> str:
    for line in (ROOT / procfile).read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise KeyError(f"no {name!r} process in {procfile}")


_metrics_base: list[str] = []


def metrics_base() -> str:
    """One metrics directory for the processes of this test run, removed when it ends (a
    killed process leaves its samples behind)."""
    if not _metrics_base:
        _metrics_base.append(tempfile.mkdtemp(prefix="recbridge-metrics-tests-"))
        atexit.register(shutil.rmtree, _metrics_base[0], ignore_errors=True)
    return _metrics_base[0]


def process_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AGORA_", "STORAGE_", "PROMETHEUS_"))
    }
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    env["METRICS_DIR"] = metrics_base()
    env.update(extra)
    return env


def _spawn(argv: list[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    # Output goes to files, not pipes: a chatty process must never block on a full pipe.
    out = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
    err = tempfile.TemporaryFile()  # noqa: SIM115
    process = subprocess.Popen(
        argv, cwd=ROOT, env=process_env(env), stdout=out, stderr=err, start_new_session=True
    )
    process.output_files = (out, err)  # type: ignore[attr-defined]
    return process


def start(name: str, env: Mapping[str, str], procfile: str = "Procfile") -> subprocess.Popen[bytes]:
    """Run a Procfile entry through a shell, as honcho or a platform would."""
    return _spawn(["bash", "-c", f"exec {procfile_command(name, procfile)}"], env)


def start_module(module: str, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    return _spawn([sys.executable, "-m", module], env)


def start_argv(argv: list[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    return _spawn(argv, env)


def output(process: subprocess.Popen[bytes]) -> tuple[str, str]:
    texts = []
    for handle in process.output_files:  # type: ignore[attr-defined]
        handle.seek(0)
        texts.append(handle.read().decode(errors="replace"))
    return texts[0], texts[1]


def run_cli(args: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """The operator command, as `python -m cli` (what the `recbridge` script runs)."""
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=ROOT,
        env=process_env(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def wait_http(url: str, process: subprocess.Popen[bytes], timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"process exited with {process.returncode}: {output(process)[1][-2000:]}"
            )
        try:
            requests.get(url, timeout=2)
            return
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout_s} s: {output(process)[1][-2000:]}")


def stop(process: subprocess.Popen[bytes], timeout_s: float = 15) -> tuple[str, str]:
    """Stop the process (SIGTERM, then SIGKILL); returns its stdout and stderr."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    texts = output(process)
    for handle in process.output_files:  # type: ignore[attr-defined]
        handle.close()
    return texts


def child_pids(pid: int) -> list[int]:
    """The direct children of a running process (Linux)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def wait_until(check: Callable[[], object], timeout_s: float, what: str = "a condition") -> float:
    """Poll ``check()`` until true; returns the seconds it took."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout_s:
            raise TimeoutError(f"{what} did not happen within {timeout_s} s")
        time.sleep(0.02)
    return time.monotonic() - start
