"""The systemd units in deploy/systemd run exactly what the Procfile runs, supervised."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import pytest

from tests.support import processes

UNITS = processes.ROOT / "deploy" / "systemd"
PROCESSES = {
    "web": "recbridge-web.service",
    "worker": "recbridge-worker@.service",
    "clock": "recbridge-clock.service",
}


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((UNITS / name).read_text())
    return parser


def words(command: str) -> list[str]:
    """A command's words with `${X:-default}` read as `${X}` and programs by base name."""
    split = shlex.split(re.sub(r"\$\{(\w+):-[^}]*\}", r"${\1}", command))
    return [Path(split[0]).name, *split[1:]]


@pytest.mark.parametrize(("process", "name"), PROCESSES.items())
def test_each_unit_runs_its_procfile_line_and_restarts(process: str, name: str) -> None:
    service = unit(name)["Service"]
    assert words(service["ExecStart"]) == words(processes.procfile_command(process))
    assert service["Restart"] == "always"
    assert service["KillSignal"] == "SIGTERM"
    assert service["EnvironmentFile"] == "/etc/recbridge/recbridge.env"


def test_web_binds_loopback_behind_the_proxy() -> None:
    assert "BIND=127.0.0.1" in unit(PROCESSES["web"])["Service"]["Environment"].split()


def test_the_target_starts_every_process() -> None:
    wanted = " ".join(
        line.split("=", 1)[1]
        for line in (UNITS / "recbridge.target").read_text().splitlines()
        if line.startswith("Wants=")
    ).split()
    assert {"recbridge-web.service", "recbridge-clock.service"} <= set(wanted)
    assert any(w.startswith("recbridge-worker@") for w in wanted)
