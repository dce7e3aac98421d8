"""A real HTTP server receiving notifications, verifying them with ``standardwebhooks``.

It can answer 500 to the first N attempts, answer 410, hold an answer for a while (to time
out the sender or be killed in the middle of), or be down (``stop()``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    webhook_id: str
    timestamp: str
    signature: str
    body: dict[str, Any]
    verified_by: list[int]  # indexes of the receiver's secrets that verify it
    received_at: float
    answered: int


@dataclass
class Receiver:
    secrets: list[str] = field(default_factory=list)
    fail_first: int = 0  # answer 500 to this many attempts
    status: int = 204  # the answer afterwards (e.g. 410)
    hold_s: float = 0.0  # wait this long before answering the next ``hold_count`` attempts
    hold_count: int = 0
    received: list[Received] = field(default_factory=list)
    raw_bodies: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None
    active: int = 0  # requests being answered now
    most_active: int = 0
    location: str | None = None  # with status 3xx: where it points

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def start(self, port: int = 0) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.arrived.set()
                with receiver.lock:
                    receiver.active += 1
                    receiver.most_active = max(receiver.most_active, receiver.active)
                    seen = len(receiver.received)
                    hold = receiver.hold_s if receiver.hold_count > 0 else 0.0
                    receiver.hold_count = max(0, receiver.hold_count - 1)
                if hold:
                    time.sleep(hold)  # the behaviour under test: a slow endpoint
                answer = 500 if seen < receiver.fail_first else receiver.status
                verified = []
                for index, secret in enumerate(receiver.secrets):
                    try:
                        Webhook(secret).verify(raw, headers)
                        verified.append(index)
                    except WebhookVerificationError:
                        pass
                with receiver.lock:
                    receiver.raw_bodies.append(raw)
                    receiver.received.append(
                        Received(
                            headers.get("webhook-id", ""),
                            headers.get("webhook-timestamp", ""),
                            headers.get("webhook-signature", ""),
                            orjson.loads(raw),
                            verified,
                            time.time(),
                            answer,
                        )
                    )
                    receiver.active -= 1
                self.send_response(answer)
                if receiver.location:
                    self.send_header("location", receiver.location)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def snapshot(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def by_type(self) -> dict[str, list[Received]]:
        out: dict[str, list[Received]] = {}
        for item in self.snapshot():
            out.setdefault(item.body["type"], []).append(item)
        return out

    def wait_for(self, what: str, check: Any, timeout_s: float = 30) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = check(self.snapshot())
            if value:
                return value
            time.sleep(0.02)
        raise TimeoutError(f"receiver: timed out waiting for {what}; got {self.summary()}")

    def summary(self) -> list[tuple[str, str, int]]:
        return [(r.body["type"], r.webhook_id, r.answered) for r in self.snapshot()]
