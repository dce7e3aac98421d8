"""A callback sender that behaves like NCS: resends on a non-200 or no answer, 3 times."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.support.ncs import encode, signed_headers

RESEND_BACKOFF_S = (0.3, 0.8, 1.5)


@dataclass
class SendLog:
    acknowledged: list[dict[str, Any]] = field(default_factory=list)
    given_up: list[dict[str, Any]] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, answer: str) -> None:
        with self.lock:
            self.answers[answer] += 1


def send_like_ncs(url: str, events: list[dict[str, Any]], log: SendLog) -> None:
    with requests.Session() as http:
        for event in events:
            for attempt in range(1 + len(RESEND_BACKOFF_S)):
                body = encode({**event, "notifyMs": int(time.time() * 1000)})
                try:
                    answer = http.post(url, data=body, headers=signed_headers(body), timeout=10)
                    log.note(str(answer.status_code))
                    if answer.status_code == 200:
                        with log.lock:
                            log.acknowledged.append(event)
                        break
                except requests.RequestException as exc:
                    log.note(type(exc).__name__)
                if attempt < len(RESEND_BACKOFF_S):
                    time.sleep(RESEND_BACKOFF_S[attempt])
            else:
                with log.lock:
                    log.given_up.append(event)
