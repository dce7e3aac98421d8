"""Whole documented session lifecycles, as NCS would send them (agora-reference §2.4)."""

from __future__ import annotations

import random
from typing import Any

from tests.support.ncs import recording_event


def file_name(sid: str, cname: str, uid: str) -> str:
    return f"rec/{sid}_{cname}__uid_s_{uid}__uid_e_audio.m3u8"


def lifecycle(
    sid: str,
    cname: str = "room",
    uids: tuple[str, ...] = ("101", "202", "303"),
    recorder_uid: str = "527841",
    *,
    failover: bool = False,
) -> list[dict[str, Any]]:
    """40, 30, 43 per uid, 42 per uid, 4 per uid, 33, [12, 40], 41, 31, 11 — in sequence."""
    steps: list[tuple[int, dict[str, Any]]] = [
        (40, {"msgName": "recorder_started", "status": 0}),
        (30, {"msgName": "uploader_started", "status": 0}),
    ]
    base = 1_700_000_000_000
    for i, uid in enumerate(uids):
        steps.append(
            (
                43,
                {
                    "msgName": "recorder_audio_stream_state_changed",
                    "streamUid": uid,
                    "state": 0,
                    "UtcMs": base + i,
                },
            )
        )
        steps.append(
            (
                42,
                {
                    "msgName": "recorder_slice_start",
                    "startUtcMs": base + i,
                    "discontinueUtcMs": base + i,
                    "mixedAllUser": False,
                    "streamUid": uid,
                    "trackType": "audio",
                },
            )
        )
        steps.append(
            (4, {"msgName": "cloud_recording_file_infos", "fileList": file_name(sid, cname, uid)})
        )
    steps.append((33, {"msgName": "uploading_progress", "progress": 4000}))
    if failover:
        steps.append((12, {"msgName": "session_failover", "newUid": 99887766}))
        steps.append((40, {"msgName": "recorder_started", "status": 0}))
    steps.append(
        (
            43,
            {
                "msgName": "recorder_audio_stream_state_changed",
                "streamUid": uids[0],
                "state": 1,
                "utcMs": base + 60_000,
            },
        )
    )
    steps.append((41, {"msgName": "recorder_leave", "leaveCode": 16}))
    steps.append(
        (
            31,
            {
                "msgName": "uploaded",
                "status": 0,
                "fileList": [
                    {
                        "fileName": file_name(sid, cname, uid),
                        "trackType": "audio",
                        "uid": uid,
                        "mixedAllUser": False,
                        "isPlayable": True,
                        "sliceStartTime": base + i,
                    }
                    for i, uid in enumerate(uids)
                ],
            },
        )
    )
    steps.append((11, {"msgName": "session_exit", "exitStatus": 0}))
    return [
        recording_event(
            event_type, sid=sid, cname=cname, uid=recorder_uid, sequence=seq, details=details
        )
        for seq, (event_type, details) in enumerate(steps)
    ]


def with_resends(
    events: list[dict[str, Any]], rng: random.Random, share: float = 0.3
) -> list[dict[str, Any]]:
    """Add resends (same noticeId) and Agora's redundant copies (new noticeId), shuffled."""
    stream = list(events)
    for event in events:
        if rng.random() < share:
            copy = dict(event)
            if rng.random() < 0.5:
                copy["noticeId"] = event["noticeId"] + ":redundant"
            stream.append(copy)
    rng.shuffle(stream)
    return stream
