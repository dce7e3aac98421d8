"""The whole service as production runs it: gunicorn `web` and `worker` processes."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from tests.conftest import OPS_TOKEN
from tests.support import processes
from tests.support.ncs import SECRET
from tests.support.redis_server import free_port


@dataclass
class Service:
    base: str
    logs: list[tuple[str, str]]
    env: dict[str, str] = field(default_factory=dict)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    others: list[subprocess.Popen[bytes]] = field(default_factory=list)  # web, clocks

    def add_worker(self) -> subprocess.Popen[bytes]:
        """Another worker process, as a process manager would start one."""
        worker = processes.start("worker", self.env)
        self.workers.append(worker)
        return worker

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {OPS_TOKEN}"}


@contextlib.contextmanager
def run_service(
    redis_url: str,
    extra_env: Mapping[str, str] | None = None,
    *,
    workers: int = 2,
    clocks: int = 1,
) -> Iterator[Service]:
    env = {
        "REDIS_URL": redis_url,
        "AGORA_NCS_SECRET": SECRET,
        "OPS_API_TOKEN": OPS_TOKEN,
        "PORT": str(free_port()),
        # Its own, so its counters start at zero (processes of earlier tests may linger).
        "METRICS_DIR": tempfile.mkdtemp(prefix="recbridge-metrics-tests-"),
        **(extra_env or {}),
    }
    port = int(env["PORT"])
    web = processes.start("web", env)
    service = Service(f"http://127.0.0.1:{port}", [], env)
    others = service.others
    others.append(web)
    try:
        processes.wait_http(f"{service.base}/healthz", web)
        for _ in range(workers):
            service.add_worker()
        others.extend(processes.start("clock", env) for _ in range(clocks))
        yield service
    finally:
        service.logs.extend(processes.stop(p) for p in [*service.workers, *others])
        shutil.rmtree(env["METRICS_DIR"], ignore_errors=True)
