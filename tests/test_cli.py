"""The operator command, in process: messages that say what is wrong, exit codes, output."""

from __future__ import annotations

import re

import redis as redis_lib
from click.testing import CliRunner

from cli.main import main
from cli.output import shown
from workers import recordings


def run(redis_url: str, *args: str, **env: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={"REDIS_URL": redis_url, **env})
    return result.exit_code, result.output


def test_resync_without_an_app_id_says_so(redis_url: str, redis: redis_lib.Redis) -> None:
    code, output = run(redis_url, "sessions", "resync", "abc", AGORA_APP_ID="")
    assert code == 1 and "AGORA_APP_ID is not set" in output
    code, output = run(redis_url, "sessions", "resync", "abc", AGORA_APP_ID="app")
    assert code == 1 and "no session 'abc'" in output


def test_replay_all_with_nothing_to_replay_is_not_an_error(
    redis_url: str, redis: redis_lib.Redis
) -> None:
    code, output = run(redis_url, "dead-letters", "replay", "--all")
    assert (code, output.strip()) == (0, "no dead letters to replay")
    code, output = run(redis_url, "dead-letters", "replay")
    assert code != 0 and "name dead letters" in output


def test_show_prints_json_values_and_iso_times(redis_url: str, redis: redis_lib.Redis) -> None:
    recording, _ = recordings.create(redis, recordings.new_recording("demo", None, 300, "api"))
    code, output = run(redis_url, "recordings", "show", recording["id"])
    assert code == 0, output
    lines = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in output.splitlines())
    assert lines["sid"] == "null" and lines["confirmed"] == "false" and lines["uids"] == "null"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", lines["created_ms"])
    assert "None" not in output and "True" not in output and "False" not in output


def test_shown_values() -> None:
    assert shown("updated_ms", 1_796_055_471_222) == "2026-11-30T16:17:51.222Z"
    assert shown("timeout_ms", 5000) == "5000"  # a duration stays a number
    assert shown("ok", True) == "true" and shown("x", None) == "null"
    assert shown("files", [{"a": 1}]) == '[{"a":1}]' and shown("cname", "demo") == "demo"
