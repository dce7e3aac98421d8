"""Debian's nginx with the shipped deploy/nginx/recbridge-proxy.conf, in front of a port."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from tests.support import processes
from tests.support.ncs import encode, recording_event, signed_headers
from tests.support.redis_server import free_port

SNIPPET = processes.ROOT / "deploy" / "nginx" / "recbridge-proxy.conf"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def config(prefix: Path, listen: int, upstream: int) -> str:
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {prefix}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
{temp}
    upstream recbridge_web {{ server 127.0.0.1:{upstream} max_fails=0; }}
    server {{
        listen 127.0.0.1:{listen};
        include {SNIPPET};
    }}
}}
"""


@contextlib.contextmanager
def run_nginx(upstream_port: int) -> Iterator[str]:
    """nginx on a free loopback port proxying to ``upstream_port``; yields its base URL."""
    binary = nginx_binary()
    assert binary is not None, "nginx is not installed (scripts/bootstrap.sh installs it)"
    with tempfile.TemporaryDirectory(prefix="recbridge-nginx-") as tmp:
        prefix, port = Path(tmp), free_port()
        conf = prefix / "nginx.conf"
        conf.write_text(config(prefix, port, upstream_port))
        check = subprocess.run(
            [binary, "-t", "-p", tmp, "-c", str(conf)], capture_output=True, text=True, check=False
        )
        assert check.returncode == 0, check.stderr
        process = processes.start_argv([binary, "-p", tmp, "-c", str(conf)], {})
        try:
            processes.wait_http(f"http://127.0.0.1:{port}/healthz", process)
            yield f"http://127.0.0.1:{port}"
        finally:
            processes.stop(process)


class SlowClients:
    """Connections that send a request's headers one byte at a time and never finish."""

    def __init__(self, port: int, count: int) -> None:
        self.sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self) -> None:
        head = b"POST /agora/ncs HTTP/1.1\r\nHost: x\r\nX-Slow: "
        step = 0
        while not self._stop.is_set():
            byte = head[step : step + 1] or b"a"
            for sock in self.sockets:
                try:
                    sock.send(byte)
                except OSError:
                    continue
            step += 1
            self.sent = step
            self._stop.wait(0.1)

    def wait_trickling(self, timeout_s: float = 10) -> None:
        """Until every connection has sent a few bytes (all are open and held)."""
        processes.wait_until(lambda: self.sent >= 5, timeout_s, "slow clients trickling")

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for sock in self.sockets:
            sock.close()


def timed_callback(
    base: str, secret: str, sid: str, seq: int, timeout_s: float
) -> tuple[int, float]:
    """POST one signed callback; its status and how long the answer took, in ms."""
    body = encode(recording_event(40, sid=sid, sequence=seq))
    started = time.perf_counter()
    answer = requests.post(
        f"{base}/agora/ncs", data=body, headers=signed_headers(body, secret), timeout=timeout_s
    )
    return answer.status_code, (time.perf_counter() - started) * 1000
