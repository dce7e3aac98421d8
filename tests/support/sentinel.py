"""A real Sentinel topology on free loopback ports: a primary, a replica and three sentinels
(``redis-server --sentinel``), with a short down-after so a failover takes seconds."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from tests.support.redis_server import RedisServer, free_port

SERVICE = "recbridge"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000


class DataNode(RedisServer):
    """A redis-server that may start as a replica of another."""

    def __init__(self, *, replica_of: int | None = None) -> None:
        super().__init__(appendonly=True)
        self.replica_of = replica_of

    def start(self) -> DataNode:
        # A full sync starts at once (Redis waits 5 s by default for more replicas).
        self.extra_args = ["--repl-diskless-sync-delay", "0"]
        if self.replica_of:
            self.extra_args += ["--replicaof", "127.0.0.1", str(self.replica_of)]
        super().start()
        return self


class SentinelTopology:
    def __init__(self) -> None:
        self.primary = DataNode()
        self.replica = DataNode(replica_of=self.primary.port)
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.dir = Path(tempfile.mkdtemp(prefix="recbridge-sentinel-"))
        self.sentinels: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def start(self) -> SentinelTopology:
        self.primary.start()
        self.replica.start()
        wait_for(lambda: self._link_up(self.replica.port), 20, "the replica syncing")
        for port in self.sentinel_ports:
            self._start_sentinel(port)
        wait_for(self._sentinels_agree, 20, "the sentinels seeing the replica and each other")
        return self

    def _start_sentinel(self, port: int) -> None:
        config = self.dir / f"sentinel-{port}.conf"
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {self.dir}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary.port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )
        self.sentinels[port] = subprocess.Popen(
            ["redis-server", str(config), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: _pings(port), 10, f"sentinel {port} starting")

    def _link_up(self, port: int) -> bool:
        info = redis.Redis(port=port).info("replication")
        return bool(info.get("role") == "slave" and info.get("master_link_status") == "up")

    def _sentinels_agree(self) -> bool:
        for port in self.sentinel_ports:
            master = redis.Redis(port=port).sentinel_master(SERVICE)
            if master["num-slaves"] < 1 or master["num-other-sentinels"] < 2:
                return False
        return True

    def replication(self) -> str:
        """Both data nodes' view of replication, for a failure message."""
        views = []
        for node in (self.primary, self.replica):
            try:
                info = redis.Redis(port=node.port, socket_timeout=1).info("replication")
                views.append(f"{node.port}: {info.get('role')} {info.get('master_link_status')}")
            except redis.RedisError as exc:
                views.append(f"{node.port}: {exc}")
        return "; ".join(views)

    def primary_port(self) -> int:
        """The primary the sentinels name now."""
        host_port = redis.Redis(port=self.sentinel_ports[0]).sentinel_get_master_addr_by_name(
            SERVICE
        )
        return int(host_port[1])

    def node(self, port: int) -> DataNode:
        return self.primary if self.primary.port == port else self.replica

    def cleanup(self) -> None:
        for process in self.sentinels.values():
            process.terminate()
            process.wait(timeout=10)
        self.primary.cleanup()
        self.replica.cleanup()
        shutil.rmtree(self.dir, ignore_errors=True)


def _pings(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_timeout=1).ping())
    except redis.ConnectionError:
        return False


def wait_for(check: object, timeout_s: float, what: str) -> float:
    started = time.monotonic()
    while True:
        try:
            if check():  # type: ignore[operator]
                return time.monotonic() - started
        except redis.RedisError:
            pass
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"{what} did not happen within {timeout_s} s")
        time.sleep(0.05)
