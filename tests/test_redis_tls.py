"""rediss:// with an ACL user: the connection factory speaks TLS to a real redis-server
(Debian's is built with TLS) that refuses the default user, and prints no password."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib

from config.redis_url import describe_redis_url
from tests.support.processes import wait_until
from tests.support.redis_server import free_port
from workers.redis_conn import connect_url

pytestmark = pytest.mark.integration
PASSWORD = "tls-acl-pw-5c1e"


@pytest.fixture
def tls_redis() -> Iterator[tuple[int, Path]]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = Path(tempfile.mkdtemp(prefix="recbridge-tls-"))
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(cert), "--tls-key-file", str(key),
         "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no", "--save", "",
         "--dir", str(folder), "--user", "default", "off",
         "--user", "app", "on", f">{PASSWORD}", "~*", "&*", "+@all"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield port, cert
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def test_tls_and_an_acl_user(tls_redis: tuple[int, Path]) -> None:
    port, cert = tls_redis
    url = f"rediss://app:{PASSWORD}@127.0.0.1:{port}/0?ssl_ca_certs={cert}"
    client = connect_url(url)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis_lib.ConnectionError:
            return False

    wait_until(answers, 10, "redis-server answering over TLS")
    assert client.set("k", "v") and client.get("k") == b"v"
    assert client.acl_whoami() == "app"
    with pytest.raises(redis_lib.AuthenticationError):  # the ACL is really enforced
        connect_url(url.replace(PASSWORD, "wrong")).ping()
    with pytest.raises(redis_lib.ConnectionError):  # and TLS is really required
        connect_url(f"redis://app:{PASSWORD}@127.0.0.1:{port}/0").ping()
    assert PASSWORD not in describe_redis_url(url)
