"""Agora-shaped callbacks for tests: builders, valid details per event type, signing."""

from __future__ import annotations

import itertools
import time
from typing import Any

import orjson

from webhook.signature import sign

SECRET = "test-ncs-secret-3f9a"
_counter = itertools.count()

# A valid `details` for every Cloud Recording event type (agora-reference §2.3).
VALID_DETAILS: dict[int, dict[str, Any]] = {
    1: {
        "msgName": "cloud_recording_error",
        "module": 1,
        "errorLevel": 3,
        "errorCode": 47,
        "stat": 1,
        "errorMsg": "upload failed",
    },
    2: {"msgName": "cloud_recording_warning", "module": 1, "warnCode": 31},
    3: {
        "msgName": "cloud_recording_status_update",
        "status": 5,
        "recordingMode": 0,
        "fileList": "sid_ch.m3u8",
    },
    4: {"msgName": "cloud_recording_file_infos", "fileList": "sid_ch__uid_s_123__uid_e_audio.m3u8"},
    11: {"msgName": "session_exit", "exitStatus": 0},
    12: {"msgName": "session_failover", "newUid": 1234567},
    30: {"msgName": "uploader_started", "status": 0},
    31: {
        "msgName": "uploaded",
        "status": 0,
        "fileList": [
            {
                "fileName": "p/sid_ch__uid_s_123__uid_e_audio.m3u8",
                "trackType": "audio",
                "uid": "123",
                "mixedAllUser": False,
                "isPlayable": True,
                "sliceStartTime": 1619172871089,
            }
        ],
    },
    32: {
        "msgName": "backuped",
        "status": 0,
        "fileList": [
            {
                "fileName": "sid_ch__uid_s_7__uid_e_audio.m3u8",
                "trackType": "audio",
                "uid": "7",
                "mixedAllUser": False,
                "isPlayable": True,
                "sliceStartTime": 1619172871089,
            }
        ],
    },
    33: {"msgName": "uploading_progress", "progress": 5000},
    40: {"msgName": "recorder_started", "status": 0},
    41: {"msgName": "recorder_leave", "leaveCode": 24},
    42: {
        "msgName": "recorder_slice_start",
        "startUtcMs": 1619172871089,
        "discontinueUtcMs": 1619172871089,
        "mixedAllUser": False,
        "streamUid": "123",
        "trackType": "audio",
    },
    43: {
        "msgName": "recorder_audio_stream_state_changed",
        "streamUid": "123",
        "state": 0,
        "UtcMs": 1619172871089,
    },
    44: {
        "msgName": "recorder_video_stream_state_changed",
        "streamUid": "123",
        "state": 1,
        "utcMs": 1619172871089,
    },
    45: {"msgName": "recorder_snapshot_file", "fileName": "p/x.jpg"},
    60: {"msgName": "vod_started", "aliVodInfo": {"videoId": "v1"}},
    61: {"msgName": "vod_triggered"},
    70: {"msgName": "web_recorder_started", "recorderStartTime": 1619172871089},
    71: {
        "msgName": "web_recorder_stopped",
        "code": 0,
        "message": "ok",
        "details": "",
        "fileList": [{"filename": "a.mp4", "sliceStartTime": 1619172871089}],
    },
    72: {"msgName": "web_recorder_capability_limit", "limitType": "WebGL"},
    73: {"msgName": "web_recorder_reload", "reason": "audio_silence"},
    80: {"msgName": "transcoder_started"},
    81: {
        "msgName": "transcoder_completed",
        "result": "all_success",
        "uids": [{"uid": "1", "result": "success", "fileList": [{"fileName": "a.mp3"}]}],
    },
    90: {
        "msgName": "download_failed",
        "vendor": 1,
        "region": 0,
        "bucket": "b",
        "fileName": "a.ts;b.ts",
    },
    100: {"msgName": "rtmp_publish_status", "rtmpUrl": "rtmp://x/y", "status": "publishing"},
    1001: {
        "msgName": "postpone_transcode_final_result",
        "result": "total_success",
        "fileList": [{"fileName": "a.mp3"}],
    },
}

# One way each schema refuses: the field and the wrong value.
INVALID_DETAILS: dict[int, tuple[str, Any]] = {
    1: ("module", "zero"),
    2: ("module", None),
    3: ("status", "5"),
    4: ("fileList", 4),
    11: ("exitStatus", "0"),
    12: ("newUid", "1234567"),
    30: ("status", 0.5),
    31: ("fileList", [{"trackType": "audio"}]),
    32: ("fileList", "x.m3u8"),
    33: ("progress", 10001),
    40: ("status", True),
    41: ("leaveCode", None),
    42: ("startUtcMs", "now"),
    43: ("state", "0"),
    44: ("streamUid", 123),
    45: ("fileName", None),
    60: ("aliVodInfo", {"videoId": 5}),
    61: ("msgName", 61),
    70: ("recorderStartTime", "x"),
    71: ("fileList", [{"filename": 1}]),
    72: ("limitType", 1),
    73: ("reason", 2),
    80: ("msgName", None),
    81: ("uids", [{"result": "fail"}]),
    90: ("vendor", "s3"),
    100: ("rtmpUrl", []),
    1001: ("fileList", [{}]),
}

VALID_CHANNEL_PAYLOADS: dict[int, dict[str, Any]] = {
    101: {"channelName": "room", "ts": 1560396834},
    102: {"channelName": "room", "ts": 1560396834, "lastUid": 12121212},
    103: {
        "channelName": "room",
        "uid": 12121212,
        "platform": 1,
        "clientSeq": 1625051030746,
        "ts": 1560396834,
    },
    104: {
        "channelName": "room",
        "uid": 12121212,
        "platform": 1,
        "clientSeq": 1625051030789,
        "reason": 1,
        "ts": 1560396834,
        "duration": 600,
    },
    105: {"channelName": "room", "uid": 1, "platform": 7, "clientSeq": 2, "ts": 1},
    106: {
        "channelName": "room",
        "uid": 1,
        "platform": 7,
        "clientSeq": 3,
        "reason": 2,
        "duration": 4,
        "ts": 1,
    },
    107: {
        "channelName": "room",
        "uid": 1,
        "platform": 6,
        "clientType": 10,
        "clientSeq": 2,
        "ts": 1,
    },
    108: {"channelName": "room", "uid": 1, "platform": 6, "clientSeq": 3, "reason": 1, "ts": 1},
    111: {"channelName": "room", "uid": 1, "clientSeq": 4, "ts": 1},
    112: {"channelName": "room", "uid": 1, "clientSeq": 5, "ts": 1},
}


def now_ms() -> int:
    return int(time.time() * 1000)


def recording_event(
    event_type: int,
    *,
    sid: str = "38f8e3cfdc474cd56fc1ceba380d7e1a",
    cname: str = "room",
    uid: str = "527841",
    sequence: int = 0,
    details: dict[str, Any] | None = None,
    notice_id: str | None = None,
    notify_ms: int | None = None,
    sendts: int | None = None,
) -> dict[str, Any]:
    sent = now_ms() if notify_ms is None else notify_ms
    return {
        "noticeId": notice_id or f"{next(_counter)}:{sid}:{sequence}:{event_type}",
        "productId": 3,
        "eventType": event_type,
        "notifyMs": sent,
        "sid": sid,
        "payload": {
            "cname": cname,
            "uid": uid,
            "sid": sid,
            "sequence": sequence,
            "sendts": sendts if sendts is not None else 1_700_000_000_000 + sequence * 1000,
            "serviceType": 1,
            "details": details if details is not None else dict(VALID_DETAILS[event_type]),
        },
    }


def channel_event(event_type: int, notice_id: str | None = None, **payload: Any) -> dict[str, Any]:
    return {
        "noticeId": notice_id or f"rtc-{next(_counter)}",
        "productId": 1,
        "eventType": event_type,
        "notifyMs": now_ms(),
        "payload": {**VALID_CHANNEL_PAYLOADS[event_type], **payload},
    }


def encode(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event)


def signed_headers(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {**sign(secret, body), "Content-Type": "application/json"}
