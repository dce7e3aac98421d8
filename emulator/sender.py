"""Delivers NCS callbacks like NCS does: signed, POSTed, resent up to 3 times on failure."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import requests

from webhook.signature import sign

RESENDS = 3
TIMEOUT_S = 10.0


@dataclass(order=True)
class Delivery:
    due: float
    order: int
    body: dict[str, Any] = field(compare=False)
    attempt: int = field(default=0, compare=False)


class Sender:
    def __init__(self, url: str, secret: str, time_scale: float) -> None:
        self._url, self._secret, self._scale = url, secret, time_scale
        self._heap: list[Delivery] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._http = requests.Session()
        self.stats: dict[str, int] = {"sent": 0, "accepted": 0, "failed": 0, "given_up": 0}
        self._thread = threading.Thread(target=self._run, name="ncs-sender", daemon=True)
        self._thread.start()

    def send(self, body: dict[str, Any], delay_s: float = 0.0) -> None:
        with self._cond:
            heapq.heappush(
                self._heap, Delivery(time.monotonic() + delay_s, next(self._order), body)
            )
            self._cond.notify()

    def post_now(self, body: dict[str, Any]) -> int:
        """Send once, now, and return the receiver's HTTP status (0 when it did not answer)."""
        raw = orjson.dumps(body)
        headers = {**sign(self._secret, raw), "Content-Type": "application/json"}
        try:  # its own connection: the delivery thread owns self._http
            return requests.post(
                self._url, data=raw, headers=headers, timeout=TIMEOUT_S
            ).status_code
        except requests.RequestException:
            return 0

    def pending(self) -> int:
        with self._cond:
            return len(self._heap)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0].due > time.monotonic():
                    timeout = self._heap[0].due - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                delivery = heapq.heappop(self._heap)
            self._deliver(delivery)

    def _deliver(self, delivery: Delivery) -> None:
        body = dict(delivery.body, notifyMs=int(time.time() * 1000))  # NCS renews it per send
        raw = orjson.dumps(body)
        headers = {**sign(self._secret, raw), "Content-Type": "application/json"}
        self.stats["sent"] += 1
        try:
            ok = self._http.post(self._url, data=raw, headers=headers, timeout=TIMEOUT_S).ok
        except requests.RequestException:
            ok = False
        if ok:
            self.stats["accepted"] += 1
            return
        self.stats["failed"] += 1
        if delivery.attempt >= RESENDS:
            self.stats["given_up"] += 1
            return
        backoff = (1.0, 2.0, 4.0)[delivery.attempt] * self._scale
        retry = Delivery(
            time.monotonic() + backoff, next(self._order), delivery.body, delivery.attempt + 1
        )
        with self._cond:
            heapq.heappush(self._heap, retry)
            self._cond.notify()
