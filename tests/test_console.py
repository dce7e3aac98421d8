"""The operators' console through the Flask app: login, cookie, CSRF, headers, and each page
showing what the API shows. The browser tests (test_console_browser.py) drive it for real."""

from __future__ import annotations

import base64
import re
import urllib.parse
from html import unescape

import pytest
import redis as redis_lib
from flask import Flask
from flask.testing import FlaskClient
from rq import Queue

from config.settings import Secret, Settings
from tests.conftest import OPS_TOKEN
from tests.support.lifecycle import lifecycle
from tests.support.ncs import SECRET, encode, recording_event, signed_headers
from tests.support.redis_server import free_port
from tests.support.workers import run_burst
from tests.test_ops_api import work_with_dead_letters
from webhook import console_auth, console_pages, console_views, create_app
from workers import compaction, ops_status, recordings
from workers.queues import CONTROL_QUEUE
from workers.ratelimit import SharedRateLimit

AUTH = {"Authorization": f"Bearer {OPS_TOKEN}"}
PAGES = ["/console/", "/console/recordings", "/console/dead-letters", "/console/endpoints",
         "/console/health"]  # fmt: skip


def log_in(client: FlaskClient) -> None:
    answer = client.post("/console/login", data={"token": OPS_TOKEN})
    assert answer.status_code == 303


def csrf_of(client: FlaskClient, page: str = "/console/recordings") -> str:
    html = client.get(page).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def post_all(client: FlaskClient, events: list[dict]) -> None:  # type: ignore[type-arg]
    for event in events:
        body = encode(event)
        assert client.post("/agora/ncs", data=body, headers=signed_headers(body)).status_code == 200


def console_rules(app: Flask) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/console") and rule.endpoint not in console_auth_open():
            path = re.sub(r"<[^>]+>", "x", rule.rule)
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                routes.append((method, path))
    return routes


def console_auth_open() -> set[str]:
    return {"console.login", "console.static"}


# ---- login and the cookie ------------------------------------------------------------


def test_without_the_cookie_every_page_goes_to_the_login(app: Flask, client: FlaskClient) -> None:
    routes = console_rules(app)
    assert len(routes) >= 10
    for method, path in routes:
        answer = client.open(path, method=method)
        if method == "GET":
            assert answer.status_code == 303, path
            assert answer.headers["Location"].startswith("/console/login?next=")
        else:  # nothing changes without a login
            assert answer.status_code == 401, (method, path)


def test_a_bad_token_is_401_with_the_form_again(client: FlaskClient) -> None:
    answer = client.post("/console/login", data={"token": "not-the-token"})
    assert answer.status_code == 401
    assert 'name="token"' in answer.get_data(as_text=True)
    assert "Set-Cookie" not in answer.headers
    assert client.get("/console/").status_code == 303


def test_a_good_token_sets_a_strict_httponly_cookie_that_does_not_carry_it(
    client: FlaskClient,
) -> None:
    answer = client.post("/console/login", data={"token": OPS_TOKEN, "next": "/console/health"})
    assert (answer.status_code, answer.headers["Location"]) == (303, "/console/health")
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    raw = OPS_TOKEN.encode()
    encodings = {
        OPS_TOKEN,
        raw.hex(),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        base64.b32encode(raw).decode(),
        urllib.parse.quote(OPS_TOKEN),
    }
    for encoded in encodings:
        assert encoded.rstrip("=").lower() not in value.lower(), encoded
    assert client.get("/console/health").status_code == 200
    second = client.post("/console/login", data={"token": OPS_TOKEN}).headers["Set-Cookie"]
    assert second.split(";")[0] != cookie.split(";")[0]  # a fresh nonce per login


def test_a_cookie_of_another_token_an_expired_or_a_forged_one_is_refused() -> None:
    good = console_auth.issue(OPS_TOKEN, now_s=1000)
    assert console_auth.verify(OPS_TOKEN, good, now_s=1001) is not None
    assert console_auth.verify("another-token", good, now_s=1001) is None
    assert console_auth.verify(OPS_TOKEN, good, now_s=1000 + console_auth.LIFETIME_S + 1) is None
    expires, nonce, mac = good.split(".")
    assert console_auth.verify(OPS_TOKEN, f"{int(expires) + 999}.{nonce}.{mac}", 1001) is None
    assert console_auth.verify(OPS_TOKEN, "garbage", 1001) is None


def test_a_login_posted_from_another_site_is_refused(client: FlaskClient) -> None:
    answer = client.post(
        "/console/login", data={"token": OPS_TOKEN}, headers={"Origin": "https://evil.example"}
    )
    assert answer.status_code == 403 and "Set-Cookie" not in answer.headers
    same = client.post(
        "/console/login", data={"token": OPS_TOKEN}, headers={"Origin": "https://localhost"}
    )
    assert same.status_code == 303  # the same host, through a TLS proxy


def test_over_https_the_cookie_is_secure(client: FlaskClient) -> None:
    answer = client.post("/console/login", data={"token": OPS_TOKEN}, base_url="https://localhost")
    assert "Secure" in answer.headers["Set-Cookie"]
    plain = client.post("/console/login", data={"token": OPS_TOKEN})
    assert "Secure" not in plain.headers["Set-Cookie"]  # else a plain-HTTP setup cannot log in


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/api/sessions"])
def test_next_never_leaves_the_console(client: FlaskClient, target: str) -> None:
    answer = client.post("/console/login", data={"token": OPS_TOKEN, "next": target})
    assert answer.headers["Location"] == "/console/"


def test_disabled_without_a_configured_token(settings: Settings, redis: redis_lib.Redis) -> None:
    app = create_app(Settings(redis_url=settings.redis_url, ncs_secrets=(Secret("s"),)))
    answer = app.test_client().post("/console/login", data={"token": ""})
    assert answer.status_code == 503


def test_logout_ends_the_login(client: FlaskClient) -> None:
    log_in(client)
    assert client.post("/console/logout").status_code == 403  # CSRF applies here too
    assert client.post("/console/logout", data={"csrf_token": csrf_of(client)}).status_code == 303
    assert client.get("/console/").status_code == 303


# ---- CSRF and headers ------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/console/recordings", "/console/recordings/x/stop", "/console/dead-letters/x/replay"],
)
@pytest.mark.parametrize("given", [None, "", "forged-token"])
def test_a_change_without_the_csrf_token_is_403(
    client: FlaskClient, redis: redis_lib.Redis, path: str, given: str | None
) -> None:
    log_in(client)
    form = {"cname": "room"} if given is None else {"cname": "room", "csrf_token": given}
    answer = client.post(path, data=form)
    assert answer.status_code == 403
    assert redis.keys("rb:recording*") == []


def test_a_csrf_token_of_another_login_is_refused(app: Flask) -> None:
    first, second = app.test_client(), app.test_client()
    log_in(first)
    log_in(second)
    answer = second.post("/console/logout", data={"csrf_token": csrf_of(first)})
    assert answer.status_code == 403


def test_pages_carry_a_strict_csp_and_nothing_inline(client: FlaskClient) -> None:
    log_in(client)
    for page in PAGES:
        answer = client.get(page)
        assert answer.status_code == 200, page
        csp = answer.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "unsafe-inline" not in csp
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        html = answer.get_data(as_text=True)
        assert re.search(r"<script(?![^>]*\bsrc=)", html) is None  # no inline script
        assert " style=" not in html and "<style" not in html  # CSP would drop them
        assert "http://" not in html and "https://" not in html  # nothing from elsewhere
        assert answer.headers["Cache-Control"] == "no-store"


def test_every_control_has_a_label(settings: Settings, redis: redis_lib.Redis) -> None:
    app = create_app(Settings(**{**settings.__dict__, "agora_app_id": "app-1"}))
    client = app.test_client()
    post_all(client, lifecycle("LABELS"))
    run_burst(redis)
    log_in(client)
    client.post("/console/recordings", data={"cname": "x", "csrf_token": csrf_of(client)})
    for page in [*PAGES, "/console/sessions/LABELS"]:
        html = client.get(page).get_data(as_text=True)
        labelled = set(re.findall(r'<label for="([^"]+)"', html))
        for tag, attrs in re.findall(r"<(input|select)\b([^>]*)>", html):
            if 'type="hidden"' in attrs:
                continue
            found = re.search(r'id="([^"]+)"', attrs)
            wrapped = 'id="auto-refresh"' in attrs  # inside its <label>
            assert wrapped or (found and found.group(1) in labelled), (page, tag, attrs)
        for button in re.findall(r"<button\b([^>]*)>(.*?)</button>", html, re.S):
            assert button[1].strip() or "aria-label" in button[0], (page, button)


def test_the_fragment_is_only_the_live_part(client: FlaskClient) -> None:
    log_in(client)
    answer = client.get("/console/", headers={"X-Console-Fragment": "1"})
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert "<html" not in html and "counts" in html
    client.delete_cookie(console_auth.COOKIE, path="/console")
    assert client.get("/console/", headers={"X-Console-Fragment": "1"}).status_code == 401


# ---- the pages show the API's truth --------------------------------------------------


def test_sessions_page_lists_what_the_api_lists(
    client: FlaskClient, redis: redis_lib.Redis
) -> None:
    post_all(client, lifecycle("DONE", cname="alpha"))
    live = [
        recording_event(40, sid="LIVE", cname="beta", sendts=1_800_000_000_000),
        recording_event(
            1, sid="LIVE", cname="beta", sequence=3, details={
                "msgName": "cloud_recording_error", "module": 1, "errorLevel": 5,
                "errorCode": 47, "stat": 1, "errorMsg": "upload failed"}
        ),
    ]  # fmt: skip
    post_all(client, live)
    run_burst(redis)
    log_in(client)
    html = client.get("/console/").get_data(as_text=True)
    api = client.get("/api/sessions", headers=AUTH).json["sessions"]
    shown = re.findall(r'href="/console/sessions/([^"]+)"', html)
    assert shown == [s["sid"] for s in api] == ["LIVE", "DONE"]
    assert "at risk" in html and "2 callback(s) missing" in html and "1 error(s)" in html
    filtered = client.get("/console/?state=exited").get_data(as_text=True)
    assert re.findall(r'href="/console/sessions/([^"]+)"', filtered) == ["DONE"]
    by_channel = client.get("/console/?cname=beta").get_data(as_text=True)
    assert re.findall(r'href="/console/sessions/([^"]+)"', by_channel) == ["LIVE"]
    bad = client.get("/console/?state=paused")
    assert bad.status_code == 400 and "state" in bad.get_data(as_text=True)


def test_backup_storage_and_restored_pieces_are_shown(
    client: FlaskClient, redis: redis_lib.Redis
) -> None:
    restored = "bk/BAK_ch__uid_s_7__uid_e_audio_1700000000_2.m3u8"
    post_all(
        client,
        [
            recording_event(40, sid="BAK", cname="ch"),
            recording_event(32, sid="BAK", cname="ch", sequence=1),
            recording_event(
                4, sid="BAK", cname="ch", sequence=2,
                details={"msgName": "cloud_recording_file_infos", "fileList": restored},
            ),
        ],
    )  # fmt: skip
    run_burst(redis)
    log_in(client)
    assert "files in backup storage" in client.get("/console/").get_data(as_text=True)
    page = unescape(client.get("/console/sessions/BAK").get_data(as_text=True))
    assert "restored from backup (piece 2)" in page
    assert "Some files went to Agora's backup storage" in page


def test_session_page_tells_the_story_with_lanes_files_and_marked_arrivals(
    client: FlaskClient, redis: redis_lib.Redis
) -> None:
    events = lifecycle("S1", cname="gamma", failover=True)
    redundant = dict(events[2], noticeId="redundant-copy")
    post_all(client, [*events[3:], *events[:3], redundant])  # the first three arrive last
    run_burst(redis)
    log_in(client)
    html = unescape(client.get("/console/sessions/S1").get_data(as_text=True))
    api_events = client.get("/api/sessions/S1/events", headers=AUTH).json["events"]
    assert f"{len(api_events)} distinct events" in html  # copies folded, as the API does
    assert html.count("out of order") == 3
    assert "the recorder left the channel (a stop)" in html  # leaveCode 16 decoded
    assert "Failed over to recorder uid 99887766" in html
    for uid in ("101", "202", "303"):
        assert f"uid {uid} receiving from" in html  # a lane segment per uid
        assert f"__uid_s_{uid}__uid_e_audio.m3u8" in html  # its file
    assert "uid 101 stopped from" in html  # event 43 state 1 closes the first lane


def test_a_long_timeline_shows_its_first_and_last_events(
    client: FlaskClient, redis: redis_lib.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console_pages, "TIMELINE_SHOWN", 8)
    events = lifecycle("LONG")
    post_all(client, events)
    run_burst(redis)
    log_in(client)
    html = client.get("/console/sessions/LONG").get_data(as_text=True)
    shown = re.findall(r"<tr[^>]*>\s*<td>(\d+)</td>", html)
    last = len(events) - 1
    assert shown == ["0", "1", *[str(n) for n in range(last - 5, last + 1)]]
    assert f"{len(events) - 8} events not shown" in html
    everything = client.get("/console/sessions/LONG?events=all").get_data(as_text=True)
    assert len(re.findall(r"<tr[^>]*>\s*<td>(\d+)</td>", everything)) == len(events)


def test_a_compacted_session_still_shows_its_lanes_and_timeline(
    client: FlaskClient, redis: redis_lib.Redis
) -> None:
    events = lifecycle("OLD", cname="epsilon")
    post_all(client, events)
    run_burst(redis)
    assert compaction.compact_session(redis, "OLD") == 1
    log_in(client)
    answer = client.get("/console/sessions/OLD")
    assert answer.status_code == 200
    html = unescape(answer.get_data(as_text=True))
    assert f"{len(events)} distinct events" in html
    assert "event details were compacted" in html
    assert "uid 101 stopped from" in html and "uid 202 receiving from" in html
    assert html.count('class="slice"') == 3  # from the session's slices


def test_unknown_session_and_recording_are_404(client: FlaskClient) -> None:
    log_in(client)
    assert client.get("/console/sessions/nope").status_code == 404
    assert client.get("/console/recordings/nope").status_code == 404
    token = csrf_of(client)
    assert (
        client.post("/console/recordings/nope/stop", data={"csrf_token": token}).status_code == 404
    )
    assert (
        client.post("/console/dead-letters/nope/replay", data={"csrf_token": token}).status_code
        == 404
    )


def test_start_and_stop_a_recording_from_the_console(
    settings: Settings, redis: redis_lib.Redis
) -> None:
    app = create_app(Settings(**{**settings.__dict__, "agora_app_id": "app-1"}))
    client = app.test_client()
    log_in(client)
    token = csrf_of(client)
    refused = client.post(
        "/console/recordings", data={"cname": "", "uids": "12 x", "csrf_token": token}
    )
    assert refused.status_code == 400
    text = refused.get_data(as_text=True)
    assert "cname" in text and 'aria-invalid="true"' in text
    answer = client.post(
        "/console/recordings",
        data={"cname": "delta", "uids": "11, 12", "max_idle_time": "30", "csrf_token": token},
    )
    assert answer.status_code == 303
    recording_id = answer.headers["Location"].split("/")[-1].split("?")[0]
    api = client.get(f"/api/recordings/{recording_id}", headers=AUTH).json
    assert (api["cname"], api["uids"], api["max_idle_time"]) == ("delta", ["11", "12"], 30)
    assert api["source"] == "console"
    page = client.get(f"/console/recordings/{recording_id}").get_data(as_text=True)
    assert "delta" in page and "Stop this recording" in page
    listed = client.get("/console/recordings").get_data(as_text=True)
    api_ids = [r["id"] for r in client.get("/api/recordings", headers=AUTH).json["recordings"]]
    assert re.findall(r'href="/console/recordings/([0-9a-f]+)"', listed) == api_ids
    queue = Queue(CONTROL_QUEUE, connection=redis)
    bad = client.post(
        f"/console/recordings/{recording_id}/uids", data={"uids": "x", "csrf_token": token}
    )
    assert bad.status_code == 400 and "uids must be" in bad.get_data(as_text=True)
    changed = client.post(
        f"/console/recordings/{recording_id}/uids", data={"uids": "13 14", "csrf_token": token}
    )
    assert changed.status_code == 303
    assert client.get(f"/api/recordings/{recording_id}", headers=AUTH).json["uids"] == [
        "13",
        "14",
    ]
    assert any(j.func_name == "workers.control.update_uids" for j in queue.get_jobs())
    before = queue.count
    stop = client.post(f"/console/recordings/{recording_id}/stop", data={"csrf_token": token})
    assert stop.status_code == 303 and queue.count == before + 1
    assert any(j.func_name == "workers.control.run_stop" for j in queue.get_jobs())


def test_a_recording_page_lists_its_sessions_and_restart_reasons(
    client: FlaskClient, redis: redis_lib.Redis
) -> None:
    post_all(client, lifecycle("FIRST", cname="eps"))
    run_burst(redis)
    recording = recordings.new_recording("eps", None, 60, "api")
    recording.update(
        state="active", sid="SECOND", sids=["FIRST", "SECOND"], restarts=1,
        restart_reasons=["session exited abnormally"],
    )  # fmt: skip
    recordings.create(redis, recording)
    log_in(client)
    html = client.get(f"/console/recordings/{recording['id']}").get_data(as_text=True)
    assert "1 restart(s)" in html and "session exited abnormally" in html
    assert re.findall(r'href="/console/sessions/([^"]+)"', html) == ["SECOND", "FIRST"]
    assert "client_leave" in html  # the first session's leave reason


def test_dead_letter_replay_from_the_console(client: FlaskClient, redis: redis_lib.Redis) -> None:
    redis.set("flag", 1)
    Queue(CONTROL_QUEUE, connection=redis).enqueue(
        "tests.test_ops_api.fail_once_then_succeed", "flag"
    )
    work_with_dead_letters(redis)
    log_in(client)
    html = client.get("/console/dead-letters").get_data(as_text=True)
    (letter_id,) = re.findall(r"/console/dead-letters/([0-9a-f]+)/replay", html)
    assert "RuntimeError: the dependency is down" in html
    redis.delete("flag")
    answer = client.post(
        f"/console/dead-letters/{letter_id}/replay", data={"csrf_token": csrf_of(client)}
    )
    assert answer.status_code == 303
    work_with_dead_letters(redis)
    assert redis.get("flag:done") == b"1"
    api = client.get("/api/dead-letters", headers=AUTH).json["dead_letters"]
    assert len(api[0]["replays"]) == 1


def test_no_page_shows_a_secret(settings: Settings, redis: redis_lib.Redis) -> None:
    secrets = {
        "ops_api_token": OPS_TOKEN,
        "agora_customer_secret": "customer-secret-7731",
        "agora_app_certificate": "certificate-9f1c0",
        "storage_access_key": "storage-ak-1234",
        "storage_secret_key": "storage-sk-5678",
    }
    values = {k: Secret(v) for k, v in secrets.items()}
    app = create_app(Settings(**{**settings.__dict__, **values, "agora_app_id": "app-1"}))
    client = app.test_client()
    post_all(client, lifecycle("SECRETS"))
    run_burst(redis)
    log_in(client)
    pages = [*PAGES, "/console/sessions/SECRETS", "/console/login"]
    for page in pages:
        html = client.get(page).get_data(as_text=True)
        for secret in (*secrets.values(), SECRET):
            assert secret not in html, (page, secret)


def test_health_page_shows_redis_queues_and_workers(client: FlaskClient) -> None:
    log_in(client)
    html = client.get("/console/health").get_data(as_text=True)
    assert "reachable" in html and "recbridge-control" in html and "recbridge-events" in html
    assert "No worker is registered" in html


def test_health_reads_the_request_budget_and_the_callback_lag(
    client: FlaskClient, redis: redis_lib.Redis
) -> None:
    limiter = SharedRateLimit(redis, "app-1", 10)
    for _ in range(3):
        limiter.acquire()
    assert ops_status.qps_in_use(redis, "app-1", 10) == {"enabled": True, "used": 3, "limit": 10}
    post_all(client, lifecycle("LAG"))
    run_burst(redis)
    lag = ops_status.callback_lag(redis)
    assert lag["count"] == len(lifecycle("LAG")) and 0 <= lag["p50_ms"] <= lag["max_ms"]
    log_in(client)
    html = client.get("/console/health").get_data(as_text=True)
    assert f"{lag['count']} events in 15 min" in html


# ---- the pure parts ----------------------------------------------------------------


def test_lanes_put_every_uid_on_one_axis() -> None:
    session = {"started_ms": 1000, "ended_ms": 11000, "streams": {}}
    events = [
        {"eventType": 43, "payload": {"details": {"streamUid": "1", "state": 0, "UtcMs": 1000}}},
        {"eventType": 43, "payload": {"details": {"streamUid": "2", "state": 0, "UtcMs": 6000}}},
        {"eventType": 43, "payload": {"details": {"streamUid": "1", "state": 1, "UtcMs": 6000}}},
        {
            "eventType": 42,
            "payload": {
                "details": {"streamUid": "2", "startUtcMs": 9000, "discontinueUtcMs": 8000}
            },
        },
    ]
    lanes = console_views.lanes(session, events, now_ms=99_000)
    one, two = lanes["rows"]
    assert [(s["x"], s["w"], s["state"]) for s in one["segments"]] == [
        (0.0, 500.0, "receiving"),
        (500.0, 500.0, "stopped"),
    ]
    assert [(s["x"], s["state"]) for s in two["segments"]] == [(500.0, "receiving")]
    assert [(g["x"], g["w"]) for g in two["gaps"]] == [(700.0, 100.0)]
    assert two["starts"][0]["x"] == 800.0


def test_timeline_marks_out_of_order_and_late_arrivals() -> None:
    def event(seq: int, kind: int, received: int) -> dict:  # type: ignore[type-arg]
        return {"sequence": seq, "eventType": kind, "received_ms": received, "payload": {}}

    rows = console_views.timeline_rows(
        [event(0, 40, 10), event(1, 43, 50), event(2, 11, 20), event(3, 31, 60)]
    )
    assert [r["out_of_order"] for r in rows] == [False, True, False, False]
    assert [r["late"] for r in rows] == [False, True, False, False]  # 31 may follow 11


def test_without_redis_pages_answer_503_and_health_says_unreachable(settings: Settings) -> None:
    app = create_app(
        Settings(**{**settings.__dict__, "redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    )
    client = app.test_client()
    log_in(client)
    answer = client.get("/console/")
    assert answer.status_code == 503 and "Redis did not answer" in answer.get_data(as_text=True)
    health = client.get("/console/health")
    assert health.status_code == 200 and "unreachable" in health.get_data(as_text=True)


def test_refusals_and_changes_are_counted(client: FlaskClient) -> None:
    client.post("/console/login", data={"token": "wrong"})
    log_in(client)
    client.post("/console/logout")
    metrics = client.get("/metrics").get_data(as_text=True)
    for outcome in ("login_refused", "login", "csrf_refused"):
        assert f'recbridge_console_actions_total{{outcome="{outcome}"}}' in metrics
