"""Realistic signed callbacks for the benchmark, written one per line for wrk."""

from __future__ import annotations

import itertools
import secrets
import time
from pathlib import Path
from typing import Any

import orjson

from webhook.signature import V2_HEADER, sign

SECRET = "bench-ncs-secret"


def recorder_event(sid: str, sequence: int, notify_ms: int) -> dict[str, Any]:
    """About 600 bytes, like a 43 audio-state callback."""
    return {
        "noticeId": secrets.token_hex(16),
        "productId": 3,
        "eventType": 43,
        "notifyMs": notify_ms,
        "sid": sid,
        "payload": {
            "cname": f"bench-channel-{sid[:6]}",
            "uid": "2718281828",
            "sid": sid,
            "sequence": sequence,
            "sendts": notify_ms - 25,
            "serviceType": 1,
            "serviceScene": "rtc_record",
            "details": {
                "msgName": "recorder_audio_stream_state_changed",
                "streamUid": str(100000 + sequence % 17),
                "state": sequence % 2,
                "UtcMs": notify_ms - 30,
            },
        },
    }


def uploaded_event(sid: str, sequence: int, notify_ms: int) -> dict[str, Any]:
    """About 3 KB: a 31 `uploaded` with a file list of many uids."""
    event = recorder_event(sid, sequence, notify_ms)
    event["eventType"] = 31
    event["payload"]["serviceType"] = 2
    event["payload"]["details"] = {
        "msgName": "uploaded",
        "status": 0,
        "fileList": [
            {
                "fileName": f"recordings/2026/11/{sid}_bench-channel__uid_s_{100000 + i}"
                f"__uid_e_audio.m3u8",
                "trackType": "audio",
                "uid": str(100000 + i),
                "mixedAllUser": False,
                "isPlayable": True,
                "sliceStartTime": notify_ms - 600_000,
            }
            for i in range(14)
        ],
    }
    return event


def write_requests(path: Path, count: int, sessions: int, large_every: int = 10) -> dict[str, int]:
    """``count`` signed callbacks spread over ``sessions`` sessions, every ``large_every``-th
    a 3 KB one. Returns the body sizes."""
    sids = [secrets.token_hex(16) for _ in range(sessions)]
    sequence = dict.fromkeys(sids, 0)
    notify_ms = int(time.time() * 1000)
    sizes = {"small": 0, "large": 0}
    with path.open("wb") as out:
        for i, sid in zip(range(count), itertools.cycle(sids), strict=False):
            build = (
                uploaded_event
                if large_every and i % large_every == large_every - 1
                else (recorder_event)
            )
            body = orjson.dumps(build(sid, sequence[sid], notify_ms))
            sequence[sid] += 1
            sizes["large" if build is uploaded_event else "small"] = len(body)
            out.write(sign(SECRET, body)[V2_HEADER].encode() + b" " + body + b"\n")
    return sizes
