"""`make run`: loopback only, ports that follow each other, a Redis of its own, the README's
walkthrough by copy and paste, and Ctrl-C stopping everything however the output is piped."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import redis as redis_lib
import requests

from config.devrun import Output, RunError, dev_settings, prepare_redis
from tests.support.processes import ROOT, wait_until
from tests.support.redis_server import free_port


def test_the_callback_url_and_api_base_follow_the_ports() -> None:
    values = dev_settings(
        {"PORT": "8000", "EMULATOR_PORT": "9000", "REDIS_URL": "redis://127.0.0.1:6379/0"},
        {"PORT": "8080", "EMULATOR_PORT": "9090", "RUN_REDIS_URL": "redis://127.0.0.1:6379/15"},
    )
    assert values["EMULATOR_CALLBACK_URL"] == "http://127.0.0.1:8080/agora/ncs"
    assert values["AGORA_API_BASE"] == "http://127.0.0.1:9090"
    assert values["BIND"] == "127.0.0.1"
    assert values["REDIS_URL"] == "redis://127.0.0.1:6379/15"
    from_file = dev_settings({"PORT": "8123"}, {})
    assert from_file["EMULATOR_CALLBACK_URL"] == "http://127.0.0.1:8123/agora/ncs"


def test_a_redis_it_did_not_start_is_refused_unless_asked(
    redis_url: str, redis: redis_lib.Redis, tmp_path: Path
) -> None:
    with open(os.devnull, "w") as sink:
        output = Output(sink)
        with pytest.raises(RunError) as refused:
            prepare_redis(redis_url, False, tmp_path, output, dict(os.environ))
        assert prepare_redis(redis_url, True, tmp_path, output, dict(os.environ)) is None
    assert "did not start" in str(refused.value) and "RUN_REDIS_URL" in str(refused.value)


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def listening_hosts(port: int) -> set[str]:
    """Local addresses listening on ``port`` (Linux /proc/net/tcp, IPv4)."""
    hosts = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            hosts.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return hosts


def walkthrough(port: int) -> str:
    """The README's walkthrough, as printed, with the web port of this run."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Walkthrough", 1)[1]
    script = re.search(r"```sh\n(.*?)```", section, re.S)
    assert script is not None
    return script.group(1).replace("127.0.0.1:8000", f"127.0.0.1:{port}")


@pytest.mark.integration
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_make_run_piped_through_tee_runs_the_walkthrough_and_stops_on_ctrl_c(
    tmp_path: Path,
) -> None:
    port, emulator_port, redis_port = free_port(), free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AGORA_", "REDIS_"))},
        "PORT": str(port),
        "EMULATOR_PORT": str(emulator_port),
        "RUN_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "RUN_REDIS_DIR": str(tmp_path / "redis"),
    }
    log = tmp_path / "run.log"
    # As typed in a terminal: one process group, which Ctrl-C signals as a whole.
    shell = subprocess.Popen(
        ["bash", "-c", f"make run 2>&1 | tee {log} >/dev/null"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    started: set[int] = set()
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 120, "make run")
        assert listening_hosts(port) == {"127.0.0.1"}
        assert listening_hosts(redis_port) == {"127.0.0.1"}
        for shell_name in ("bash", "zsh"):
            if shutil.which(shell_name) is None:
                continue
            done = subprocess.run(
                [shell_name, "-c", walkthrough(port)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            assert re.search(r"^session id: [0-9a-f]{32}$", done.stdout, re.M), done.stdout
            assert re.search(r"^recording [0-9a-f]+: stopped$", done.stdout, re.M), done.stdout
        started = descendants(shell.pid)
        assert len(started) >= 8  # make, the supervisor, tee, redis, web (+2), worker, …
        os.killpg(shell.pid, signal.SIGINT)
        wait_until(lambda: not any(alive(pid) for pid in started), 60, "everything stopped")
    finally:
        for pid in started | descendants(shell.pid):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        shell.wait(timeout=30)
    assert not listening_hosts(port) and not listening_hosts(redis_port)
    assert "web started" in log.read_text()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False
