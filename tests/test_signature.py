import hmac

from webhook.signature import V1_HEADER, V2_HEADER, sign, verify

# Agora's published vector (agora-reference §3.4): exact bytes, no trailing newline.
AGORA_BODY = (
    b'{"eventMs":1560408533119,"eventType":10,"noticeId":"4eb720f0-8da7-11e9-a43e-53f411c2761f",'
    b'"notifyMs":1560408533119,"payload":{"a":"1","b":2},"productId":1}'
)
AGORA_SHA1 = "033c62f40f687675f17f0f41f91a40c71c0f134c"
AGORA_SHA256 = "6d3320c60b11101395b7fc8f9068748808a0aa1bfa064438e39d1bc2c7d74d99"

RECORDER_BODY = (
    b'{"noticeId":"31aeb35a9245cbd977cfe18b438b75ed","notifyMs":1596555306283,"eventType":40,'
    b'"sid":"d12fdce9024d37862a8f3a88e387c817","payload":{"serviceType":1,"uid":"1001",'
    b'"sequence":1,"sendts":1596555306257,"cname":"Testing2","details":{"status":0,'
    b'"msgName":"recorder_started"},"sid":"d12fdce9024d37862a8f3a88e387c817"},"productId":3}'
)


def test_sign_reproduces_agoras_published_vector() -> None:
    assert sign("secret", AGORA_BODY) == {V1_HEADER: AGORA_SHA1, V2_HEADER: AGORA_SHA256}


def test_sign_reproduces_the_recorder_started_vector() -> None:
    assert sign("secret", RECORDER_BODY) == {
        V1_HEADER: "79238677c8bdbe62bdfd6877ff2c3c56879a75ec",
        V2_HEADER: "9ffdf32bc6d0bef4f19cb447fcfcd445df65831d551b0e90f4f4ecd03668047f",
    }


def test_either_header_alone_verifies() -> None:
    assert verify(AGORA_BODY, {V2_HEADER: AGORA_SHA256}, ["secret"])
    assert verify(AGORA_BODY, {V1_HEADER: AGORA_SHA1}, ["secret"])


def test_a_wrong_v2_does_not_hide_a_valid_v1() -> None:
    assert verify(AGORA_BODY, {V2_HEADER: "0" * 64, V1_HEADER: AGORA_SHA1}, ["secret"])


def test_refuses_missing_wrong_or_uppercase_signatures() -> None:
    assert not verify(AGORA_BODY, {}, ["secret"])
    assert not verify(AGORA_BODY, {V2_HEADER: AGORA_SHA256}, ["other"])
    assert not verify(AGORA_BODY, {V2_HEADER: AGORA_SHA256.upper()}, ["secret"])
    assert not verify(AGORA_BODY + b" ", {V2_HEADER: AGORA_SHA256}, ["secret"])
    assert not verify(AGORA_BODY, {V2_HEADER: "ünïcode"}, ["secret"])


def test_rotation_accepts_each_configured_secret() -> None:
    secrets = ["new-secret", "secret"]
    assert verify(AGORA_BODY, {V2_HEADER: AGORA_SHA256}, secrets)
    new_sig = sign("new-secret", AGORA_BODY)[V2_HEADER]
    assert verify(AGORA_BODY, {V2_HEADER: new_sig}, secrets)
    assert not verify(AGORA_BODY, {V2_HEADER: new_sig}, ["secret"])


def test_every_secret_is_compared_in_constant_time(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr("webhook.signature.hmac.compare_digest", spy)
    headers = {V2_HEADER: AGORA_SHA256, V1_HEADER: AGORA_SHA1}
    assert verify(AGORA_BODY, headers, ["secret", "other"])
    # both headers against both secrets, although the first comparison already matched
    assert len(calls) == 4
