"""The settings' rules, one function each (services/shared/setting_checks.py): what passes, what it becomes, and
the exact message an operator reads when it does not."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from services.shared import setting_checks as checks

pytestmark = pytest.mark.unit


def passes_or_says(check: Callable[..., object], args: tuple[object, ...], message: str | None) -> None:
    """``check(*args)`` passes (message None), or raises ValueError with exactly ``message``."""
    if message is None:
        check(*args)
        return
    with pytest.raises(ValueError) as caught:
        check(*args)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("192.168.1.5", False),
        ("LOCALHOST", False),  # a name other than exactly localhost may resolve anywhere
        ("localhost.example.com", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert checks.is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("value", "schemes", "expected"),
    [
        ("http://a:1/", ("http",), "http://a:1"),
        ("https://a.b/v1//", ("http", "https"), "https://a.b/v1"),
        ("ws://127.0.0.1:7880", ("ws", "http"), "ws://127.0.0.1:7880"),
        ("http://a/X", ("http",), "http://a/X"),  # only slashes are trimmed
    ],
)
def test_check_url_accepts_and_trims(value: str, schemes: tuple[str, ...], expected: str) -> None:
    assert checks.check_url(value, schemes) == expected


@pytest.mark.parametrize("value", ["ftp://a", "http://", "a.b", "http:/a", ""])
def test_check_url_refuses_naming_the_schemes(value: str) -> None:
    with pytest.raises(ValueError) as caught:
        checks.check_url(value, ("http", "https"))
    assert str(caught.value) == "must be a URL starting with http:// or https://"


def test_under_root(tmp_path: Path) -> None:
    assert checks.under_root(None, tmp_path) is None
    assert checks.under_root(Path("data"), tmp_path) == tmp_path / "data"
    assert checks.under_root(Path("/abs/x"), tmp_path) == Path("/abs/x")


@pytest.mark.parametrize("name", ["letta", "_x", "a1_b", "a" * 63])
def test_sql_names_accepted(name: str) -> None:
    assert checks.check_sql_name(name) == name


@pytest.mark.parametrize("name", ["Letta", "1a", "a-b", "a" * 64, "", "a;drop"])
def test_sql_names_refused(name: str) -> None:
    with pytest.raises(ValueError, match=r"^must be a lower-case SQL name \(letters, digits, _; starting with a"):
        checks.check_sql_name(name)


def test_two_roles() -> None:
    checks.check_two_roles("lvs_admin", "letta")
    with pytest.raises(ValueError) as caught:
        checks.check_two_roles("letta", "letta")
    assert str(caught.value) == "POSTGRES_ADMIN_USER must differ from POSTGRES_USER (Letta's role is not the admin)"


def test_llm_choice(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"x")
    checks.check_llm_choice(False, False, None)
    checks.check_llm_choice(True, True, None)
    checks.check_llm_choice(False, False, gguf)
    with pytest.raises(ValueError) as caught:
        checks.check_llm_choice(True, False, None)
    assert str(caught.value) == "LLM_PROVIDER=openai needs OPENAI_API_KEY"
    with pytest.raises(ValueError) as caught:
        checks.check_llm_choice(False, False, tmp_path / "missing.gguf")
    assert str(caught.value) == f"LLM_GGUF_PATH={tmp_path / 'missing.gguf'} is not a file"
    with pytest.raises(ValueError, match="is not a file"):
        checks.check_llm_choice(False, False, tmp_path)  # a folder is not a model file


@pytest.mark.parametrize(
    ("dead_after", "interval", "ok"),
    [(2.0, 1.0, True), (1.99, 1.0, False), (3.0, 1.0, True), (3.9, 2.0, False), (4.0, 2.0, True)],
)
def test_dead_after_spans_two_beats(dead_after: float, interval: float, ok: bool) -> None:
    message = "AGENT_DEAD_AFTER must be at least twice AGENT_HEARTBEAT_INTERVAL"
    passes_or_says(checks.check_dead_after, (dead_after, interval), None if ok else message)


def test_networks() -> None:
    values = ["127.0.0.1", "10.0.0.0/8", "::1", "10.1.2.3/8"]  # a host-bit network is accepted (not strict)
    assert checks.check_networks(values) is values
    with pytest.raises(ValueError) as caught:
        checks.check_networks(["127.0.0.1", "2"])
    assert str(caught.value) == "'2' is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8)"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (" a, b ,,c ", ["a", "b", "c"]),
        ("", []),
        ("one", ["one"]),
        (' ["x", "y"] ', ["x", "y"]),
        (["kept"], ["kept"]),
        (None, None),
    ],
)
def test_split_list(value: object, expected: object) -> None:
    assert checks.split_list(value) == expected


@pytest.mark.parametrize(("grace", "ttl", "ok"), [(60, 60, True), (61, 60, False), (0, 60, True)])
def test_session_grace_within_token_life(grace: float, ttl: float, ok: bool) -> None:
    message = "WEB_SESSION_GRACE must not exceed WEB_TOKEN_TTL"
    passes_or_says(checks.check_session_grace, (grace, ttl), None if ok else message)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", ""), ("  ", ""), ("off", "off"), ("OFF", "OFF"), (" http://a:1/h/ ", "http://a:1/h")],
)
def test_health_url(value: str, expected: str) -> None:
    assert checks.check_health_url(value) == expected


def test_health_url_refuses_other_schemes() -> None:
    with pytest.raises(ValueError, match=r"^must be a URL starting with http:// or https://$"):
        checks.check_health_url("ws://a:1")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("Voice.Example.com.", "voice.example.com"),
        ("a-b.example.org", "a-b.example.org"),
        ("example.com", "example.com"),  # two labels are enough
        ("a.X", "a.x"),  # only the final dot is trimmed
        ("host.exampleX", "host.examplex"),
        ("x." + "a" * 63 + ".com", "x." + "a" * 63 + ".com"),
    ],
)
def test_hostname_accepted(value: str | None, expected: str | None) -> None:
    assert checks.check_hostname(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "localhost",
        "https://voice.example.com",
        "voice.example.com:443",
        "-a.example.com",
        "a..com",
        "x." + "a" * 64 + ".com",
        "a_b.example.com",
        "voice.example.com/x",
    ],
)
def test_hostname_refused(value: str) -> None:
    with pytest.raises(ValueError) as caught:
        checks.check_hostname(value)
    assert str(caught.value) == "must be a DNS name like voice.example.com (no scheme, no port)"


def test_strong_secret_only_beyond_loopback() -> None:
    weak, strong = "x" * 31, "x" * 32
    checks.check_strong_secret(("127.0.0.1", "localhost"), weak)
    checks.check_strong_secret(("0.0.0.0", "127.0.0.1"), strong)
    checks.check_strong_secret(("0.0.0.0",), "é" * 16)  # bytes, not characters: 32 bytes
    with pytest.raises(ValueError) as caught:
        checks.check_strong_secret(("127.0.0.1", "0.0.0.0", "10.0.0.1"), weak)
    assert str(caught.value) == "LIVEKIT_API_SECRET must be at least 32 bytes when binding to 0.0.0.0"


def test_each_section_reads_its_prefix_from_the_environment_and_both_env_files() -> None:
    from services.shared.settings import DEV_SECRETS_FILE, ENV_FILE, _section

    assert _section("WEB_") == {
        "env_prefix": "WEB_",
        "env_file": (DEV_SECRETS_FILE, ENV_FILE),  # .env last: it overrides the generated secrets
        "env_file_encoding": "utf-8",
        "extra": "ignore",
    }


@pytest.mark.parametrize(
    ("url", "by", "expected"),
    [
        ("ws://a:7880", 0, "ws://a:7880"),
        ("ws://a:7880", 1, "ws://a:7881"),
        ("https://voice.example.com/x", 100, "https://voice.example.com:543/x"),  # the scheme's default port
        ("wss://voice.example.com", 100, "wss://voice.example.com:543"),
        ("http://a", 100, "http://a:180"),
        ("ws://[::1]:7880", 100, "ws://[::1]:7980"),
        ("ws://:7880", 100, "ws://:7980"),
    ],
)
def test_shift_port(url: str, by: int, expected: str) -> None:
    from services.shared.settings import shift_port

    assert shift_port(url, by) == expected


def test_a_bad_setting_exits_2_naming_it(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from services.shared.settings import get_settings, load_settings_or_exit

    monkeypatch.setenv("WEB_PORT", "eighty")
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as caught:
            load_settings_or_exit()
    finally:
        get_settings.cache_clear()
    assert caught.value.code == 2 and caught.value.__suppress_context__
    err = capsys.readouterr().err
    assert err.startswith("error: invalid setting: WEB_PORT: ") and err.endswith("\n"), err
    monkeypatch.delenv("WEB_PORT")
    assert load_settings_or_exit().web.port == get_settings().web.port
    get_settings.cache_clear()
