"""Settings: defaults, validation that names the variable, strong secrets off loopback, env.example complete."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.shared.settings import SECTIONS, LLMProvider, Settings, describe_error, env_name

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests see only the variables they set (tests/unit/conftest.py keeps the env files out)."""
    monkeypatch.chdir(tmp_path)
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "DEEPGRAM_API_KEY"):
        monkeypatch.delenv(var, raising=False)


def test_defaults_are_loopback_and_offline() -> None:
    s = Settings()
    assert s.livekit.url == "ws://127.0.0.1:7880"
    assert s.web.bind == "127.0.0.1"
    assert s.llm.resolved_provider is LLMProvider.LOCAL
    assert {"llm", "embeddings"} <= set(s.ports())


@pytest.mark.parametrize(
    ("env", "livekit_url", "letta_url"),
    [
        ({"LIVEKIT_PORT": "12880", "LETTA_PORT": "13283"}, "ws://127.0.0.1:12880", "http://127.0.0.1:13283"),
        (
            {"LIVEKIT_PORT": "12880", "LIVEKIT_URL": "ws://livekit:7880", "LETTA_BASE_URL": "http://letta:8283"},
            "ws://livekit:7880",
            "http://letta:8283",
        ),
    ],
)
def test_a_moved_port_moves_the_url_unless_it_is_set(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], livekit_url: str, letta_url: str
) -> None:
    """LIVEKIT_PORT / LETTA_PORT alone must not leave the services (and make up's health wait) on 7880 / 8283."""
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    s = Settings()
    assert (s.livekit.url, s.letta.base_url) == (livekit_url, letta_url)
    assert s.livekit.node_http_url(0) == livekit_url.replace("ws://", "http://")


def test_openai_key_switches_the_brain_to_the_cloud(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    s = Settings()
    assert s.llm.resolved_provider is LLMProvider.OPENAI
    assert s.llm.model_name == "gpt-4o-mini"
    assert "llm" not in s.ports()


@pytest.mark.parametrize(
    ("var", "value", "named"),
    [
        ("LIVEKIT_URL", "not-a-url", "LIVEKIT_URL"),
        ("LETTA_BASE_URL", "ftp://x", "LETTA_BASE_URL"),
        ("LLM_PROVIDER", "mystery", "LLM_PROVIDER"),
        ("WEB_PORT", "70000", "WEB_PORT"),
        ("AGENT_STT", "whisper-on-a-napkin", "AGENT_STT"),
        ("WEB_TOKEN_TTL", "3600", "WEB_TOKEN_TTL"),
        ("OPENAI_BASE_URL", "nope", "OPENAI_BASE_URL"),
        ("LLM_PROVIDER", "openai", "OPENAI_API_KEY"),
        ("LLM_GGUF_PATH", "/does/not/exist.gguf", "LLM_GGUF_PATH"),
    ],
)
def test_bad_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch, var: str, value: str, named: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError) as error:
        Settings()
    assert named in describe_error(error.value)


@pytest.mark.parametrize("bind_var", ["WEB_BIND", "LIVEKIT_BIND"])
def test_short_secret_is_refused_off_loopback(monkeypatch: pytest.MonkeyPatch, bind_var: str) -> None:
    monkeypatch.setenv(bind_var, "0.0.0.0")
    with pytest.raises(ValidationError, match="LIVEKIT_API_SECRET"):
        Settings()
    monkeypatch.setenv("LIVEKIT_API_SECRET", "x" * 32)
    assert Settings().livekit.api_secret.get_secret_value() == "x" * 32


def test_secrets_do_not_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEKIT_API_SECRET", "very-secret-value-that-must-not-leak")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    text = repr(Settings()) + str(Settings().model_dump())
    assert "very-secret-value" not in text and "sk-must-not-leak" not in text


def test_env_example_is_current() -> None:
    from services.shared.env_example import render

    committed = (ROOT / "config" / "env.example").read_text()
    stale = "config/env.example is stale: python -m services.shared.env_example > config/env.example"
    assert committed == render(), stale


def test_env_example_documents_every_setting() -> None:
    example = (ROOT / "config" / "env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    expected = {env_name(section, field) for section in SECTIONS.values() for field in section.model_fields}
    assert not expected - documented, f"missing from config/env.example: {sorted(expected - documented)}"
    assert not documented - expected, f"unknown in config/env.example: {sorted(documented - expected)}"


def test_env_example_never_sets_a_secret() -> None:
    """`cp config/env.example .env` must not override the generated secrets with well-known ones."""
    from pydantic import SecretStr

    example = (ROOT / "config" / "env.example").read_text()
    for section in SECTIONS.values():
        for name, field in section.model_fields.items():
            if isinstance(field.default, SecretStr):
                assert not re.search(rf"^{env_name(section, name)}=", example, flags=re.MULTILINE), name
