"""The console in a real browser (Debian's chromium, driven by Playwright) against real
gunicorn, a worker, the clock and the Agora emulator with its faults switched on.

Screenshots of every page are kept in ``var/artifacts/console/`` (or ``$CONSOLE_ARTIFACTS``);
with ``CONSOLE_DOCS=1`` they also replace the README's pictures in ``docs/console/``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from rq import Queue

from tests.conftest import OPS_TOKEN
from tests.support.emulated import Emulated, run_emulated
from tests.support.ncs import encode, now_ms, recording_event, signed_headers
from tests.support.processes import ROOT
from tests.support.receiver import Receiver
from tests.test_notify_delivery import SIGNING_KEY
from workers.queues import CONTROL_QUEUE

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("CONSOLE_ARTIFACTS", ROOT / "var" / "artifacts" / "console"))
DOCS = ROOT / "docs" / "console"
WAIT_MS = 20_000
FATAL = {
    "msgName": "cloud_recording_error",
    "module": 2,
    "errorLevel": 5,
    "errorCode": 47,
    "stat": 1,
    "errorMsg": "uploader could not reach the storage bucket",
}  # the pages refresh themselves every 5 s

sync_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip(
        "chromium is not installed (scripts/bootstrap.sh installs it)", allow_module_level=True
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def emulated(redis_url: str, redis: redis_lib.Redis) -> Iterator[Emulated]:
    with run_emulated(
        redis_url, workers=1, NOTIFY_SIGNING_KEY=SIGNING_KEY, CONSOLE_REFRESH_S="1"
    ) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("CONSOLE_DOCS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS / path.name)


def start_recording(page: Any, base: str, cname: str, uids: str) -> str:
    page.goto(f"{base}/console/recordings")
    page.get_by_label("Channel to record").fill(cname)
    page.get_by_label("Speaker uids").fill(uids)
    page.get_by_label("Idle time (s)").fill("30")
    page.get_by_role("button", name="Start recording").click()
    page.wait_for_url(re.compile(r"/console/recordings/[0-9a-f]+"))
    return str(page.url.split("/")[-1].split("?")[0])


def test_an_operator_records_a_channel_and_replays_a_dead_letter(
    emulated: Emulated, browser: Any, redis: redis_lib.Redis, receiver: Receiver
) -> None:
    expect = sync_api.expect
    base = emulated.service.base
    hook = emulated.api(
        "POST", "/api/endpoints", json={"url": receiver.url, "description": "the lesson app"}
    )
    assert hook.status_code == 201
    emulated.faults(duplicates=0.5, redundant=0.5, reorder_ms=300, failover=True)
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-GB")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    # Without the cookie, the console sends the reader to the login.
    page.goto(f"{base}/console/")
    expect(page).to_have_url(re.compile(r"/console/login\?next=/console/"))
    page.get_by_label("Ops token").fill("wrong token")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("not the ops token")
    shoot(page, "login")
    page.get_by_label("Ops token").fill(OPS_TOKEN)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()
    page.keyboard.press("Tab")  # the keyboard starts at "Skip to content"
    expect(page.locator(":focus")).to_have_text("Skip to content")
    (cookie,) = [c for c in context.cookies() if c["name"] == "rb_console"]
    assert (
        cookie["httpOnly"] and cookie["sameSite"] == "Strict" and OPS_TOKEN not in cookie["value"]
    )

    # Start a recording from the form; its page turns active by itself (fragment refresh).
    recording_id = start_recording(page, base, "lesson-7b", "1001, 1002")
    headline = page.locator(".headline h1")
    expect(headline).to_contain_text("active", timeout=WAIT_MS)
    expect(page.locator("#refresh-state")).to_contain_text("updated", timeout=WAIT_MS)
    page.get_by_role("link", name=re.compile("^[0-9a-f]{8,}")).first.click()
    expect(page.locator(".headline")).to_contain_text("lesson-7b")
    lanes = page.locator("svg.lanes rect.seg-receiving")
    expect(lanes).to_have_count(2, timeout=WAIT_MS)  # one lane per speaker
    sid = page.url.rsplit("/", 1)[-1]
    expect(page.locator(".headline")).to_contain_text("failover", timeout=WAIT_MS)
    shoot(page, "session-live")

    # Stop it; the session ends and shows its files per uid.
    page.goto(f"{base}/console/recordings/{recording_id}")
    page.get_by_role("button", name="Stop this recording").click()
    expect(page.get_by_role("status").first).to_contain_text("Stop requested")
    expect(headline).to_contain_text("stopped", timeout=WAIT_MS)
    shoot(page, "recording")
    page.goto(f"{base}/console/sessions/{sid}")
    expect(page.locator(".headline")).to_contain_text("exited", timeout=WAIT_MS)
    files = page.locator("ul.files li")
    expect(files.filter(has_text="__uid_s_1001__uid_e_audio.m3u8").first).to_be_visible()
    expect(files.filter(has_text="__uid_s_1002__uid_e_audio.m3u8").first).to_be_visible()
    api = emulated.api("GET", f"/api/sessions/{sid}").json()
    expect(page.locator(".headline")).to_contain_text(f"{len(api['files'])} file(s)")
    shoot(page, "session-ended")

    # A second channel with callbacks dropped: the list shows both, with their badges.
    emulated.faults(drops=0.3, duplicates=0.3, reorder_ms=300)
    other = start_recording(page, base, "standup-ops", "1001")
    expect(page.locator(".headline h1")).to_contain_text("active", timeout=WAIT_MS)
    other_sid = emulated.recording(other)["sid"]
    fatal = recording_event(
        1, sid=other_sid, cname="standup-ops", sequence=9, details=FATAL, sendts=now_ms()
    )
    body = encode(fatal)
    posted = emulated.http.post(
        f"{base}/agora/ncs", data=body, headers=signed_headers(body), timeout=10
    )
    assert posted.status_code == 200
    page.goto(f"{base}/console/")
    expect(page.locator("table.list tbody tr")).to_have_count(2, timeout=WAIT_MS)
    expect(page.locator("table.list")).to_contain_text("at risk", timeout=WAIT_MS)
    shoot(page, "sessions")
    page.goto(f"{base}/console/sessions/{other_sid}")
    expect(page.locator(".headline")).to_contain_text("at risk")
    shoot(page, "session-at-risk")
    page.goto(f"{base}/console/recordings")
    shoot(page, "recordings")
    emulated.api("POST", f"/api/recordings/{other}/stop")

    # A job that failed for good is replayed from the Dead letters page.
    redis.set("flag", 1)
    Queue(CONTROL_QUEUE, connection=redis).enqueue(
        "tests.test_ops_api.fail_once_then_succeed", "flag"
    )
    emulated.wait_for(
        "a dead letter", lambda: emulated.api("GET", "/api/dead-letters").json()["count"]
    )
    redis.delete("flag")
    page.goto(f"{base}/console/dead-letters")
    expect(page.locator("td.err")).to_contain_text("the dependency is down")
    shoot(page, "dead-letters")
    page.get_by_role("button", name=re.compile("^Replay dead letter")).click()
    expect(page.get_by_role("status").first).to_contain_text("queued again")
    emulated.wait_for("the replayed job", lambda: redis.get("flag:done"))

    page.goto(f"{base}/console/health")
    expect(page.locator(".tile").first).to_contain_text("reachable")
    expect(page.locator("table.list").last).to_contain_text("recbridge-")  # a worker's queues
    shoot(page, "health")
    page.goto(f"{base}/console/endpoints")
    shoot(page, "endpoints")
    page.get_by_role("link", name=hook.json()["id"]).click()
    expect(page.locator("table.list")).to_contain_text("recording.stopped", timeout=WAIT_MS)
    expect(page.locator("table.list")).to_contain_text("delivered")
    assert hook.json()["secret"] not in page.content()
    shoot(page, "endpoint")

    # A state change without the CSRF token is refused, even with the login cookie.
    refused = page.request.post(
        f"{base}/console/recordings", form={"cname": "sneaky"}, max_redirects=0
    )
    assert refused.status == 403
    assert emulated.api("GET", "/api/recordings?cname=sneaky").json()["count"] == 0

    # A browser without the cookie goes to the login.
    stranger = browser.new_context().new_page()
    stranger.goto(f"{base}/console/recordings/{recording_id}")
    expect(stranger).to_have_url(re.compile(r"/console/login"))
    assert not [e for e in errors if "Content Security Policy" in e], errors
