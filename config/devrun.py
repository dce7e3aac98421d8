"""``make run``: Redis, web, worker, clock and the Agora emulator on this machine.

A small process supervisor in place of honcho, because "Ctrl-C stops everything" must hold
however the output is piped: with ``make run | tee run.log`` the terminal's Ctrl-C also
ends ``tee``, and honcho, failing to print "SIGINT received" to the broken pipe, left
every process running. Here output that cannot be written is dropped, and the stop goes
on: the Procfile.dev processes get SIGTERM (each runs in its own process group, so the
terminal's Ctrl-C reaches only this supervisor and the order stays ours), then SIGKILL
after ``STOP_GRACE_S``, and the Redis this run started stops last. A second Ctrl-C kills
at once. Every child also gets SIGTERM from the kernel should this process die outright.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
STOP_GRACE_S = 20.0
# Variables your environment may set over dev.env (`PORT=8080 make run`).
OVERRIDABLE = ("PORT", "EMULATOR_PORT", "LOG_LEVEL")


class RunError(Exception):
    """Said in one line, and make run exits 2."""


# ---- settings -------------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            values[name.strip()] = value.strip()
    return values


def dev_settings(file_values: dict[str, str], environ: dict[str, str]) -> dict[str, str]:
    """dev.env, the few overrides, and what follows from them (pure)."""
    values = dict(file_values)
    values.update({name: environ[name] for name in OVERRIDABLE if environ.get(name)})
    if environ.get("RUN_REDIS_URL"):
        values["REDIS_URL"] = environ["RUN_REDIS_URL"]
    port = values.setdefault("PORT", "8000")
    emulator_port = values.setdefault("EMULATOR_PORT", "9000")
    # The emulator calls the web process back and recbridge calls the emulator: both follow
    # the ports, so changing one never silently breaks the other.
    values["EMULATOR_CALLBACK_URL"] = f"http://127.0.0.1:{port}/agora/ncs"
    values["AGORA_API_BASE"] = f"http://127.0.0.1:{emulator_port}"
    values["BIND"] = "127.0.0.1"
    return values


def read_procfile(path: Path) -> list[tuple[str, str]]:
    entries = []
    for line in path.read_text().splitlines():
        found = re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line)
        if found:
            entries.append((found.group(1), found.group(2)))
    return entries


# ---- output ---------------------------------------------------------------------


class Output:
    """Prefixed lines on stdout; once stdout is gone (``| tee`` ended), lines are dropped."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream: IO[str] | None = stream
        self._lock = threading.Lock()

    def line(self, name: str, text: str) -> None:
        with self._lock:
            if self._stream is None:
                return
            try:
                self._stream.write(f"{time.strftime('%H:%M:%S')} {name:<9}| {text}\n")
                self._stream.flush()
            except (BrokenPipeError, OSError, ValueError):
                self._stream = None

    def say(self, text: str) -> None:
        self.line("run", text)


def _copy_lines(name: str, pipe: IO[bytes], output: Output) -> None:
    for raw in iter(pipe.readline, b""):
        output.line(name, raw.decode(errors="replace").rstrip("\n"))
    pipe.close()


# ---- processes ------------------------------------------------------------------


def _end_with_parent() -> None:
    """In the child before exec: SIGTERM when make run dies (Linux), its own session."""
    os.setsid()
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    reader: threading.Thread


def spawn(name: str, argv: list[str], env: dict[str, str], output: Output) -> Child:
    process = subprocess.Popen(  # noqa: S603 - our own Procfile and redis-server
        argv,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=_end_with_parent,  # noqa: PLW1509 - no threads touch the child
    )
    assert process.stdout is not None
    reader = threading.Thread(target=_copy_lines, args=(name, process.stdout, output), daemon=True)
    reader.start()
    child = Child(name, process, reader)
    output.say(f"{name} started (pid {process.pid})")
    return child


def stop(children: list[Child], output: Output, grace_s: float) -> None:
    """SIGTERM each, wait up to ``grace_s``, then SIGKILL each one's whole process group."""
    for child in children:
        if child.process.poll() is None:
            output.say(f"stopping {child.name} (SIGTERM)")
            _signal(child.process.pid, signal.SIGTERM, group=False)
    deadline = time.monotonic() + grace_s
    for child in children:
        try:
            child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            output.say(f"{child.name} did not stop within {grace_s:.0f} s: SIGKILL")
        # Whatever is left of its group (a gunicorn worker whose master died) goes too.
        _signal(child.process.pid, signal.SIGKILL, group=True)
        child.process.wait()
        child.reader.join(timeout=2)
        output.say(f"{child.name} stopped (exit {child.process.returncode})")


def _signal(pid: int, signum: int, *, group: bool) -> None:
    try:
        if group:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


# ---- Redis ----------------------------------------------------------------------


def redis_answers(url: str) -> bool:
    from redis import Redis, RedisError  # noqa: PLC0415 - keeps `--help`-like paths light

    try:
        return bool(Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2).ping())
    except RedisError:
        return False


def redis_dir(url: str) -> str | None:
    from redis import Redis, RedisError  # noqa: PLC0415

    try:
        found = Redis.from_url(url, socket_timeout=2).config_get("dir")
    except RedisError:  # CONFIG refused (renamed, ACL): not one we started
        return None
    value = found.get("dir") if isinstance(found, dict) else None
    return str(value) if value else None


def prepare_redis(
    url: str, asked: bool, data_dir: Path, output: Output, env: dict[str, str]
) -> Child | None:
    """Use, adopt or start the Redis at ``url``; the started one is returned to be stopped."""
    where = urlparse(url)
    host, port, db = where.hostname or "127.0.0.1", where.port or 6379, where.path.strip("/") or "0"
    if redis_answers(url):
        if redis_dir(url) == str(data_dir):
            output.say(f"using the Redis an earlier make run started on {host}:{port}")
            return None
        if not asked:
            raise RunError(
                f"a Redis that make run did not start already answers on {host}:{port}; "
                f"recbridge would write into its database {db}. Stop it, or choose a "
                f"database of its own: RUN_REDIS_URL=redis://{host}:{port}/15 make run"
            )
        output.say(f"using the Redis at {host}:{port}, database {db} (RUN_REDIS_URL)")
        return None
    if host not in ("127.0.0.1", "localhost"):
        raise RunError(f"no Redis answers at {host}:{port}")
    data_dir.mkdir(parents=True, exist_ok=True)
    output.say(f"no Redis on {host}:{port}: starting one (data in {data_dir})")
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir)]
    argv += ["--appendonly", "yes", "--logfile", "redis.log"]
    child = spawn("redis", argv, env, output)
    deadline = time.monotonic() + 20
    while not redis_answers(url):
        if child.process.poll() is not None or time.monotonic() > deadline:
            stop([child], output, 5)
            raise RunError(f"redis-server did not start on port {port} (see {data_dir}/redis.log)")
        time.sleep(0.1)
    return child


# ---- main -----------------------------------------------------------------------


class Stopper:
    """Signals and exits of children, turned into one event for the main loop."""

    def __init__(self, output: Output) -> None:
        self.event = threading.Event()
        self.reason = ""
        self.asked = False
        self._output = output

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.event.is_set():  # asked twice: no more waiting
            raise KeyboardInterrupt
        self.asked = True
        self.reason = signal.Signals(signum).name
        self.event.set()


def main() -> int:
    output = Output(sys.stdout)
    stopper = Stopper(output)
    stopper.install()
    values = dev_settings(read_env_file(ROOT / "dev.env"), dict(os.environ))
    env = {**os.environ, **values, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    output.say(
        f"web on http://127.0.0.1:{values['PORT']} (loopback only), emulator on "
        f"127.0.0.1:{values['EMULATOR_PORT']}, Redis {_without_password(values['REDIS_URL'])}"
    )
    redis_child: Child | None = None
    children: list[Child] = []
    try:
        redis_child = prepare_redis(
            values["REDIS_URL"],
            bool(os.environ.get("RUN_REDIS_URL")),
            Path(os.environ.get("RUN_REDIS_DIR") or ROOT / "var" / "redis").resolve(),
            output,
            env,
        )
        for name, command in read_procfile(ROOT / "Procfile.dev"):
            if stopper.event.is_set():
                break
            children.append(spawn(name, ["bash", "-c", f"exec {command}"], env, output))
        watch_children(children, stopper)
        stopper.event.wait()
        output.say(f"{stopper.reason or 'stop'}: stopping everything")
    except RunError as exc:
        output.say(f"cannot start: {exc}")
        return 2
    except KeyboardInterrupt:  # a second Ctrl-C
        output.say("asked again: killing everything")
        stop(children + ([redis_child] if redis_child else []), output, 0)
        return 130
    finally:
        try:
            stop(children, output, STOP_GRACE_S)
            if redis_child is not None:
                stop([redis_child], output, STOP_GRACE_S)
        except KeyboardInterrupt:
            stop(children + ([redis_child] if redis_child else []), output, 0)
    return 0 if stopper.asked else 1


def watch_children(children: list[Child], stopper: Stopper) -> None:
    """When one process ends on its own, everything stops (as honcho did)."""

    def watch(child: Child) -> None:
        code = child.process.wait()
        if not stopper.event.is_set():
            stopper.reason = f"{child.name} exited with {code}"
            stopper.event.set()

    for child in children:
        threading.Thread(target=watch, args=(child,), daemon=True).start()


def _without_password(url: str) -> str:
    return re.sub(r"//[^@/]*@", "//", url)


if __name__ == "__main__":
    sys.exit(main())
