from typing import Any

import pytest

from tests.support.ncs import (
    INVALID_DETAILS,
    VALID_CHANNEL_PAYLOADS,
    VALID_DETAILS,
    channel_event,
    encode,
    recording_event,
)
from webhook.events import MAX_DEPTH, InvalidEvent, depth, parse_event
from webhook.schemas import MAX_CNAME, MAX_NOTICE_ID, MAX_SID, RECORDING_DETAILS


def test_every_documented_recording_event_has_a_schema_and_examples() -> None:
    documented = {
        1,
        2,
        3,
        4,
        11,
        12,
        30,
        31,
        32,
        33,
        40,
        41,
        42,
        43,
        44,
        45,
        60,
        61,
        70,
        71,
        72,
        73,
        80,
        81,
        90,
        100,
        1001,
    }
    assert set(RECORDING_DETAILS) == documented == set(VALID_DETAILS) == set(INVALID_DETAILS)


@pytest.mark.parametrize("event_type", sorted(VALID_DETAILS))
def test_valid_recording_event(event_type: int) -> None:
    event = parse_event(encode(recording_event(event_type, sid="abc", sequence=3)))
    assert (event.stream, event.known, event.event_type) == ("s:abc", True, event_type)


@pytest.mark.parametrize("event_type", sorted(INVALID_DETAILS))
def test_invalid_recording_event_names_the_field(event_type: int) -> None:
    field, value = INVALID_DETAILS[event_type]
    details = {**VALID_DETAILS[event_type], field: value}
    with pytest.raises(InvalidEvent) as info:
        parse_event(encode(recording_event(event_type, details=details)))
    assert field in info.value.fields["payload"]["details"]


@pytest.mark.parametrize("event_type", sorted(VALID_CHANNEL_PAYLOADS))
def test_valid_channel_event(event_type: int) -> None:
    event = parse_event(encode(channel_event(event_type)))
    assert (event.stream, event.known) == ("c:room", True)


@pytest.mark.parametrize("event_type", sorted(VALID_CHANNEL_PAYLOADS))
def test_invalid_channel_event_names_the_field(event_type: int) -> None:
    body = channel_event(event_type)
    body["payload"]["channelName"] = 42
    with pytest.raises(InvalidEvent) as info:
        parse_event(encode(body))
    assert "channelName" in info.value.fields["payload"]


def test_rtc_uid_must_be_a_number_while_recording_uid_is_a_string() -> None:
    with pytest.raises(InvalidEvent):
        parse_event(encode(channel_event(103, uid="12121212")))
    with pytest.raises(InvalidEvent) as info:
        parse_event(encode(recording_event(40, uid=1001)))  # type: ignore[arg-type]
    assert "uid" in info.value.fields["payload"]


def test_documented_variants_are_accepted() -> None:
    both_casings = [
        {**VALID_DETAILS[43], "UtcMs": 1},
        {"msgName": "x", "streamUid": "1", "state": 1, "utcMs": 1},
    ]
    for details in both_casings:
        parse_event(encode(recording_event(43, details=details)))
    legacy = recording_event(40)
    legacy["eventMs"] = 1560408533119  # legacy field, still in Agora's signature vector
    parse_event(encode(legacy))


def test_unknown_fields_are_kept() -> None:
    body = recording_event(40)
    body["futureField"] = {"x": 1}
    body["payload"]["details"]["newThing"] = [1, 2]
    event = parse_event(encode(body))
    assert event.body["futureField"] == {"x": 1}
    assert event.body["payload"]["details"]["newThing"] == [1, 2]


def test_unknown_type_or_product_is_accepted_but_not_known() -> None:
    unknown_type = recording_event(40, sid="s9")
    unknown_type["eventType"] = 13
    unknown_type["payload"]["details"] = "not even an object"
    event = parse_event(encode(unknown_type))
    assert (event.known, event.stream) == (False, "s:s9")
    other_product: dict[str, Any] = {
        "noticeId": "n",
        "productId": 5,
        "eventType": 1,
        "notifyMs": 1,
        "payload": {},
    }
    event = parse_event(encode(other_product))
    assert (event.known, event.stream) == (False, None)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.pop("noticeId"), "noticeId"),
        (lambda b: b.update(noticeId=""), "noticeId"),
        (lambda b: b.update(productId="3"), "productId"),
        (lambda b: b.update(eventType=40.0), "eventType"),
        (lambda b: b.update(notifyMs=-1), "notifyMs"),
        (lambda b: b.update(payload=[1]), "payload"),
    ],
)
def test_envelope_is_strict(mutate: Any, field: str) -> None:
    body = recording_event(40)
    mutate(body)
    with pytest.raises(InvalidEvent) as info:
        parse_event(encode(body))
    assert field in info.value.fields


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[]", "JSON object"),
        (b"\xff\xfe{}", "UTF-8"),
        (b"{" * 2000, "JSON"),
        (b"", "JSON"),
    ],
)
def test_bodies_that_are_not_json_objects(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_event(raw)
    assert message in info.value.fields["_body"][0]


def test_huge_numbers_are_refused_by_field() -> None:
    body = recording_event(40)
    raw = encode(body).replace(b'"sequence":0', b'"sequence":1' + b"9" * 40)
    with pytest.raises(InvalidEvent) as info:
        parse_event(raw)
    assert "sequence" in info.value.fields["payload"]
    raw = encode(body).replace(b'"sequence":0', b'"sequence":1e400')
    with pytest.raises(InvalidEvent):
        parse_event(raw)


def test_file_list_errors_name_the_item_and_field() -> None:
    details = {
        **VALID_DETAILS[31],
        "fileList": [
            {"fileName": "a.m3u8", "isPlayable": True},
            {"fileName": 5, "isPlayable": "yes"},
            "not an object",
        ],
    }
    with pytest.raises(InvalidEvent) as info:
        parse_event(encode(recording_event(31, details=details)))
    assert info.value.fields["payload"]["details"]["fileList"] == {
        1: {"fileName": ["Not a valid string."], "isPlayable": ["Not a valid boolean."]},
        2: {"_schema": ["Invalid input type."]},
    }


def test_a_top_level_sid_must_equal_the_payloads() -> None:
    body = recording_event(40, sid="a" * 32)
    body["sid"] = "b" * 32
    with pytest.raises(InvalidEvent) as info:
        parse_event(encode(body))
    assert list(info.value.fields) == ["sid"]
    body.pop("sid")  # the top-level sid is optional
    assert parse_event(encode(body)).sid == "a" * 32
    unknown_type = recording_event(13, sid="a" * 32, details={})
    unknown_type["sid"] = "b" * 32
    with pytest.raises(InvalidEvent) as info:
        parse_event(encode(unknown_type))
    assert list(info.value.fields) == ["sid"]


def test_a_channel_events_own_top_level_sid_is_kept() -> None:
    body = channel_event(103)
    body["sid"] = "a-channel-session"
    assert parse_event(encode(body)).stream == "c:" + body["payload"]["channelName"]


@pytest.mark.parametrize(
    ("field", "limit", "event_type"),
    [
        ("noticeId", MAX_NOTICE_ID, 40),
        ("sid", MAX_SID, 40),
        ("cname", MAX_CNAME, 40),
        ("sid", MAX_SID, 13),
        ("channelName", MAX_CNAME, 103),
    ],
)
def test_identifiers_up_to_their_limit_are_accepted_and_one_more_is_refused(
    field: str, limit: int, event_type: int
) -> None:
    def event(length: int) -> dict[str, Any]:
        if event_type == 103:
            return channel_event(103, channelName="c" * length)
        body = recording_event(event_type, notice_id="n", details={} if event_type == 13 else None)
        if field == "noticeId":
            body["noticeId"] = "n" * length
        else:
            body["payload"][field] = "x" * length
            body["sid"] = body["payload"]["sid"]
        return body

    parse_event(encode(event(limit)))
    with pytest.raises(InvalidEvent) as info:
        parse_event(encode(event(limit + 1)))
    fields = info.value.fields
    assert field in fields or field in fields["payload"], fields
    with pytest.raises(InvalidEvent):
        parse_event(encode(event(900_000)))


@pytest.mark.parametrize("sid", ["a/b", "a b", "a?b", "", "é", "a\nb", "..%2F"])
def test_a_sid_that_would_not_read_back_is_refused(sid: str) -> None:
    for event_type in (40, 13):
        body = recording_event(
            event_type, sid=sid, notice_id="n", details={} if event_type == 13 else None
        )
        body.pop("sid")
        with pytest.raises(InvalidEvent) as info:
            parse_event(encode(body))
        assert "sid" in info.value.fields["payload"]


@pytest.mark.parametrize("levels", [1, 2, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 255, 1025])
def test_depth_counts_levels_of_objects_and_arrays(levels: int) -> None:
    nested: Any = 1
    for level in range(levels):
        nested = [nested] if level % 2 else {"k": nested}
    assert depth(nested) == min(levels, MAX_DEPTH + 1)
