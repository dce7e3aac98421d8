"""Notifications' pure parts: which messages a change causes, retry/disable rules, signing."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from config.settings import Settings, SettingsError
from workers import recordings, transitions
from workers.notify import endpoints, events, rules, signing

KEY = "k" * 32


def recording(**changes: object) -> dict:  # type: ignore[type-arg]
    r = recordings.new_recording("room", ["1"], 300, "api")
    r.update(changes)
    r["version"] = 1
    return r


def types(messages: list[events.Message]) -> list[str]:
    return [t for t, _ in messages]


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ({"state": "starting"}, {"state": "active", "sid": "s1"}, ["recording.active"]),
        ({"state": "active", "sid": "s1"}, {"state": "active", "sid": "s1"}, []),
        (
            {"state": "active", "sid": "s1"},
            {"state": "starting", "restarts": 1, "restart_reasons": ["session failed"]},
            ["recording.restarting"],
        ),
        ({"state": "stopping"}, {"state": "stopped"}, ["recording.stopped"]),
        ({"state": "stopped"}, {"state": "stopped"}, []),
        ({"state": "starting"}, {"state": "failed", "error": "x"}, ["recording.failed"]),
        (None, {"state": "requested"}, []),
    ],
)
def test_recording_messages(before: dict | None, after: dict, expected: list[str]) -> None:  # type: ignore[type-arg]
    b = recording(**before) if before is not None else None
    a = recording(**after)
    assert types(events.recording_messages(b, a)) == expected


def test_recording_data_names_the_recording_and_its_version() -> None:
    before, after = recording(state="starting"), recording(state="active", sid="s9")
    after["version"] = 7
    [(_, data)] = events.recording_messages(before, after)
    assert (data["recording_id"], data["cname"], data["sid"], data["version"]) == (
        after["id"],
        "room",
        "s9",
        7,
    )


def session(**changes: object) -> dict:  # type: ignore[type-arg]
    s = transitions.new_session("sid1", "room", "999")
    s.update(changes)
    s["version"] = 3
    return s


FILES = [
    {"fileName": "a.m3u8", "uid": "1"},
    {"fileName": "b.m3u8", "uid": "2"},
    {"fileName": "a2.m3u8", "uid": "1"},
]


def test_session_messages_for_every_session_event_type() -> None:
    base = session(state="recording")
    exited = session(state="exited", exit_status=0, ended_ms=5)
    assert types(events.session_messages(base, exited)) == ["session.exited"]
    failed = session(state="failed", exit_status=1)
    assert types(events.session_messages(base, failed)) == ["session.exited"]
    assert events.session_messages(exited, copy.deepcopy(exited)) == []

    uploaded = session(state="exited", upload_status="uploaded", files=FILES)
    [(kind, data)] = events.session_messages(exited, uploaded)
    assert kind == "session.files_uploaded"
    assert data["files_by_uid"] == {"1": ["a.m3u8", "a2.m3u8"], "2": ["b.m3u8"]}
    backed = session(state="exited", upload_status="backuped", files=FILES)
    assert types(events.session_messages(exited, backed)) == ["session.files_backed_up"]

    talking = session(streams={"7": {"audio": "receiving", "changed_ms": 10}})
    [(kind, data)] = events.session_messages(base, talking)
    assert (kind, data["uid"], data["audio"], data["changed_ms"]) == (
        "stream.audio_changed",
        "7",
        "receiving",
        10,
    )
    quiet = session(streams={"7": {"audio": "stopped", "changed_ms": 20}})
    assert types(events.session_messages(talking, quiet)) == ["stream.audio_changed"]


def test_callbacks_missing_only_after_a_query_with_gaps_still_open() -> None:
    gappy = session(sequence_gaps=[[3, 4]], last_sequence=9)
    assert events.session_messages(session(), gappy) == []  # no reconciliation yet
    observed = session(sequence_gaps=[[3, 4]], observed={"status": 5, "at_ms": 1})
    [(kind, data)] = events.session_messages(gappy, observed)
    assert (kind, data["gaps"]) == ("session.callbacks_missing", [[3, 4]])
    again = session(sequence_gaps=[[3, 4]], observed={"status": 5, "at_ms": 2})
    assert events.session_messages(observed, again) == []  # the same gaps: said once
    closed = session(sequence_gaps=[], observed={"status": 5, "at_ms": 3})
    assert events.session_messages(observed, closed) == []


@pytest.mark.parametrize(
    ("status", "attempt", "failing_since", "expected"),
    [
        (200, 1, None, ("delivered", None, None)),
        (204, 3, 0, ("delivered", None, None)),
        (410, 1, None, ("failed", None, "gone")),
        (500, 1, None, ("pending", 1_000_000 + 5_000, None)),
        (None, 2, None, ("pending", 1_000_000 + 300_000, None)),
        (302, 1, None, ("pending", 1_000_000 + 5_000, None)),
        (500, 3, None, ("failed", None, None)),
        (500, 1, 1_000_000 - 86_400_000, ("pending", 1_000_000 + 5_000, "failing")),
        (500, 3, 1_000_000 - 86_400_000, ("failed", None, "failing")),
    ],
)
def test_after_attempt(
    status: int | None, attempt: int, failing_since: int | None, expected: tuple
) -> None:  # type: ignore[type-arg]
    verdict = rules.after_attempt(status, attempt, (5, 300), 0.0, 1_000_000, failing_since, 86_400)
    assert (verdict.status, verdict.next_ms, verdict.disable) == expected


def test_jitter_moves_a_retry_by_at_most_ten_percent() -> None:
    early = rules.after_attempt(500, 1, (100,), -1.0, 0, None, 10**6).next_ms
    late = rules.after_attempt(500, 1, (100,), 1.0, 0, None, 10**6).next_ms
    assert (early, late) == (90_000, 110_000)


def test_signatures_verify_with_the_reference_implementation() -> None:
    secret = signing.derive_secret(KEY, "ep_1", 1)
    assert secret.startswith("whsec_")
    assert secret != signing.derive_secret(KEY, "ep_1", 2) != signing.derive_secret(KEY, "ep_2", 1)
    body = b'{"type":"recording.active","data":{}}'
    now = int(datetime.now(tz=UTC).timestamp())
    old = signing.derive_secret(KEY, "ep_1", 1)
    new = signing.derive_secret(KEY, "ep_1", 2)
    headers = signing.headers([new, old], "msg_1", now, body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(body, headers)
    Webhook(new).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.derive_secret(KEY, "ep_9", 1)).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(body + b" ", headers)


@pytest.mark.parametrize(
    ("host", "addresses", "allowed", "ok"),
    [
        ("hooks.example.com", ["93.184.216.34"], (), True),
        ("hooks.example.com", ["93.184.216.34"], ("hooks.example.com",), True),
        ("evil.example.com", ["10.0.0.5"], ("hooks.example.com",), False),
        ("internal", ["10.0.0.5"], ("10.0.0.0/8",), True),
        ("mixed", ["10.0.0.5", "127.0.0.1"], ("10.0.0.0/8",), False),
        ("127.0.0.1", ["127.0.0.1"], ("127.0.0.1",), True),
        ("unresolved", [], ("10.0.0.0/8",), False),
        ("::1", ["::1"], ("::1/128",), True),
    ],
)
def test_allowed_hosts(host: str, addresses: list[str], allowed: tuple[str, ...], ok: bool) -> None:
    assert endpoints.host_allowed(host, addresses, allowed) is ok


@pytest.mark.parametrize(
    "url", ["ftp://x/y", "file:///etc/passwd", "http:///nohost", "hooks.example.com/x", ""]
)
def test_only_http_and_https_urls(url: str) -> None:
    with pytest.raises(endpoints.EndpointError) as raised:
        endpoints.check_url(url)
    assert raised.value.field == "url"


def test_settings() -> None:
    s = Settings.from_env(
        {
            "NOTIFY_SIGNING_KEY": KEY,
            "NOTIFY_RETRY_SCHEDULE_S": "1,2,3",
            "NOTIFY_ALLOWED_HOSTS": "hooks.example.com, 10.0.0.0/8",
            "NOTIFY_TIMEOUT_S": "2.5",
        }
    )
    assert s.notify_retry_schedule_s == (1, 2, 3)
    assert s.notify_allowed_hosts == ("hooks.example.com", "10.0.0.0/8")
    assert s.notify_timeout_s == 2.5
    assert KEY in s.secret_values()  # redacted from logs like every secret
    assert Settings.from_env({}).notify_retry_schedule_s == (
        5,
        300,
        1800,
        7200,
        18000,
        36000,
        36000,
    )
    with pytest.raises(SettingsError, match="NOTIFY_ALLOWED_HOSTS"):
        Settings.from_env({"NOTIFY_ALLOWED_HOSTS": "10.0.0.0/33"})
    with pytest.raises(SettingsError, match="NOTIFY_SIGNING_KEY"):
        Settings.from_env({"NOTIFY_SIGNING_KEY": "short"})
