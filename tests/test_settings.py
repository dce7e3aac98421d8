import pytest

from config.emulator import EmulatorSettings
from config.settings import Secret, Settings, SettingsError


def test_defaults_follow_the_contract() -> None:
    settings = Settings.from_env({"AGORA_NCS_SECRET": "s"})
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.agora_api_base == "https://api.agora.io"
    assert settings.ncs_max_skew_s == 300
    assert settings.ncs_dedupe_ttl_s == 7 * 24 * 3600
    assert settings.ops_api_token is None
    assert settings.agora_app_certificate is None
    assert settings.storage_file_prefix == ()


def test_every_variable_is_read() -> None:
    env = {
        "REDIS_URL": "redis://10.0.0.5:6380/2",
        "AGORA_NCS_SECRET": "a, b",
        "AGORA_APP_ID": "app",
        "AGORA_CUSTOMER_ID": "cid",
        "AGORA_CUSTOMER_SECRET": "csec",
        "AGORA_APP_CERTIFICATE": "cert",
        "AGORA_API_BASE": "http://127.0.0.1:9000/",
        "STORAGE_VENDOR": "1",
        "STORAGE_REGION": "3",
        "STORAGE_BUCKET": "bkt",
        "STORAGE_ACCESS_KEY": "ak",
        "STORAGE_SECRET_KEY": "sk",
        "STORAGE_FILE_PREFIX": "a/b1",
        "OPS_API_TOKEN": "tok",
        "NCS_MAX_SKEW_S": "60",
    }
    s = Settings.from_env(env)
    assert s.redis_url == env["REDIS_URL"]
    assert s.ncs_secrets == (Secret("a"), Secret("b"))
    assert (s.agora_app_id, s.agora_customer_id) == ("app", "cid")
    assert s.agora_api_base == "http://127.0.0.1:9000"
    assert (s.storage_vendor, s.storage_region, s.storage_bucket) == (1, 3, "bkt")
    assert s.storage_file_prefix == ("a", "b1")
    assert s.ncs_max_skew_s == 60
    assert set(s.secret_values()) == {"a", "b", "csec", "cert", "ak", "sk", "tok"}


def test_secrets_never_show_in_repr() -> None:
    s = Settings.from_env(
        {"AGORA_NCS_SECRET": "hunter2", "OPS_API_TOKEN": "tok-zz9", "STORAGE_SECRET_KEY": "sk-zz8"}
    )
    assert "hunter2" not in repr(s)
    assert "tok-zz9" not in repr(s) and "sk-zz8" not in repr(s)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STORAGE_VENDOR", "s3"),
        ("STORAGE_REGION", "-1"),
        ("REDIS_URL", "http://localhost:6379"),
        ("REDIS_URL", "redis://localhost:notaport/0"),
        ("NCS_MAX_SKEW_S", "0"),
        ("AGORA_API_BASE", "ftp://x"),
        ("STORAGE_FILE_PREFIX", "a_b/c"),
        ("AGORA_CHANNEL_TYPE", "2"),
        ("AGORA_RESOURCE_EXPIRED_HOUR", "721"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_a_malformed_value_is_refused_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"AGORA_NCS_SECRET": "s", name: value})
    assert str(info.value).startswith(f"{name}: ")


def test_web_requires_an_ncs_secret() -> None:
    with pytest.raises(SettingsError, match=r"^AGORA_NCS_SECRET"):
        Settings.from_env({}).require_web()


@pytest.mark.parametrize(
    ("faults", "said"),
    [
        ('{"nope": 1}', "EMULATOR_FAULTS: unknown faults: nope"),
        ("[1]", "EMULATOR_FAULTS: faults must be a JSON object"),
        ('{"drops": -1}', "EMULATOR_FAULTS: drops must be a non-negative number"),
    ],
)
def test_emulator_faults_are_checked_at_start(faults: str, said: str) -> None:
    with pytest.raises(SettingsError) as refused:
        EmulatorSettings.from_env({"EMULATOR_FAULTS": faults})
    assert str(refused.value).startswith(said)
    assert EmulatorSettings.from_env({"EMULATOR_FAULTS": '{"drops": 0.2}'}).faults
