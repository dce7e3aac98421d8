"""The shipped nginx configuration in front of the Procfile's gunicorn.

gunicorn's sync workers serve one connection each, from its first byte to its last: a few
clients sending headers byte by byte hold every worker (issue 12). Behind nginx, which reads
whole requests before it opens a connection to gunicorn, 200 such clients leave signed
callbacks answered at once.
"""

from __future__ import annotations

import socket
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib
import requests

from config import gunicorn as gunicorn_config
from tests.support.ncs import SECRET
from tests.support.nginx import SlowClients, nginx_binary, run_nginx, timed_callback
from tests.support.service import Service, run_service

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        nginx_binary() is None, reason="nginx is not installed: run scripts/bootstrap.sh"
    ),
]

SLOW_CLIENTS = 200
CALLBACKS = 40
LIMIT_MS = 100
MIB = 1024 * 1024


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on ``port`` (Linux, IPv4)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, port_hex = local.split(":")
        if state == "0A" and int(port_hex, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


@pytest.fixture
def service(redis_url: str, redis: redis_lib.Redis) -> Iterator[Service]:
    with run_service(redis_url, {"BIND": "127.0.0.1"}, workers=0) as running:
        yield running


def test_slow_clients_behind_nginx_leave_callbacks_answered(service: Service) -> None:
    port = int(service.env["PORT"])
    assert listening_addresses(port) == {"127.0.0.1"}  # BIND: loopback behind the proxy
    with run_nginx(port) as proxy:
        slow = SlowClients(int(proxy.rsplit(":", 1)[1]), SLOW_CLIENTS)
        try:
            slow.wait_trickling()
            timings = []
            for seq in range(CALLBACKS):
                status, ms = timed_callback(proxy, SECRET, "behind-nginx", seq, timeout_s=5)
                assert status == 200
                timings.append(ms)
        finally:
            slow.close()
        # The endpoint's body limit, held by nginx as the app holds it: 1 MiB passes.
        big = requests.post(f"{proxy}/agora/ncs", data=b"x" * (MIB + 1), timeout=10)
        assert (big.status_code, big.json()) == (413, {"error": "too_large"})
        limit = requests.post(f"{proxy}/agora/ncs", data=b"x" * MIB, timeout=10)
        assert (limit.status_code, limit.json()) == (401, {"error": "invalid_signature"})
    timings.sort()
    print(f"behind nginx, {SLOW_CLIENTS} slow clients: median {statistics.median(timings):.1f} ms")
    # Each answer within the limit; one slow outlier of 40 is the shared machine, not the
    # design (without the proxy, every callback waits 30 s: see the test below).
    assert timings[-2] <= LIMIT_MS, timings


def test_without_the_proxy_two_slow_clients_stall_callbacks(service: Service) -> None:
    """What the proxy prevents: gunicorn facing slow clients directly."""
    port = int(service.env["PORT"])
    # One more than gunicorn serves at once (workers x threads, config/gunicorn.py).
    slow = SlowClients(port, gunicorn_config.workers * getattr(gunicorn_config, "threads", 1) + 1)
    try:
        slow.wait_trickling()
        with pytest.raises(requests.Timeout):
            timed_callback(service.base, SECRET, "direct", 0, timeout_s=1)
    finally:
        slow.close()
