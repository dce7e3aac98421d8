"""The whole service as production runs it: gunicorn `web` and `worker` processes."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from tests.conftest import OPS_TOKEN
from tests.support import processes
from tests.support.ncs import SECRET
from tests.support.redis_server import free_port


@dataclass
class Service:
    base: str
    logs: list[tuple[str, str]]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {OPS_TOKEN}"}


@contextlib.contextmanager
def run_service(
    redis_url: str, extra_env: Mapping[str, str] | None = None, *, workers: int = 2
) -> Iterator[Service]:
    env = {
        "REDIS_URL": redis_url,
        "AGORA_NCS_SECRET": SECRET,
        "OPS_API_TOKEN": OPS_TOKEN,
        "PORT": str(free_port()),
        "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="recbridge-metrics-"),
        **(extra_env or {}),
    }
    port = int(env["PORT"])
    started = [processes.start("web", env)]
    service = Service(f"http://127.0.0.1:{port}", [])
    try:
        processes.wait_http(f"{service.base}/healthz", started[0])
        started += [processes.start("worker", env) for _ in range(workers)]
        yield service
    finally:
        service.logs.extend(processes.stop(p) for p in started)
