"""Speech provider selection from settings: offline default, cloud with keys, clear errors without."""

from __future__ import annotations

import pytest

from services.agent.providers import ProviderError, SpeechPlan, plan_speech
from services.shared.settings import AgentSettings, LLMSettings, Settings, STTProvider, TTSProvider

pytestmark = pytest.mark.unit


def settings(stt: str = "offline", tts: str = "offline", openai: str | None = None, deepgram: str | None = None):
    return Settings(
        agent=AgentSettings(**{"stt": stt, "tts": tts, "DEEPGRAM_API_KEY": deepgram}),
        llm=LLMSettings(**{"OPENAI_API_KEY": openai, "provider": "local"}),
    )


@pytest.mark.parametrize(
    ("kw", "plan"),
    [
        ({}, SpeechPlan(STTProvider.OFFLINE, TTSProvider.OFFLINE)),
        ({"openai": "sk-x"}, SpeechPlan(STTProvider.OFFLINE, TTSProvider.OFFLINE)),
        ({"stt": "openai", "openai": "sk-x"}, SpeechPlan(STTProvider.OPENAI, TTSProvider.OFFLINE, stt_key="sk-x")),
        (
            {"stt": "openai", "tts": "openai", "openai": "sk-x"},
            SpeechPlan(STTProvider.OPENAI, TTSProvider.OPENAI, stt_key="sk-x", tts_key="sk-x"),
        ),
        (
            {"stt": "deepgram", "deepgram": "dg-1", "tts": "openai", "openai": "sk-x"},
            SpeechPlan(STTProvider.DEEPGRAM, TTSProvider.OPENAI, stt_key="dg-1", tts_key="sk-x"),
        ),
        ({"tts": "openai", "openai": "sk-x"}, SpeechPlan(STTProvider.OFFLINE, TTSProvider.OPENAI, tts_key="sk-x")),
    ],
)
def test_plan_speech(kw, plan) -> None:
    assert plan_speech(settings(**kw)) == plan


@pytest.mark.parametrize(
    ("kw", "setting"),
    [
        ({"stt": "openai"}, "OPENAI_API_KEY"),
        ({"tts": "openai"}, "OPENAI_API_KEY"),
        ({"stt": "deepgram"}, "DEEPGRAM_API_KEY"),
        ({"stt": "deepgram", "openai": "sk-x"}, "DEEPGRAM_API_KEY"),
        ({"stt": "openai", "deepgram": "dg-1"}, "OPENAI_API_KEY"),
    ],
)
def test_missing_key_names_the_setting(kw, setting) -> None:
    with pytest.raises(ProviderError, match=setting):
        plan_speech(settings(**kw))


def test_plan_repr_hides_nothing_secret_in_errors() -> None:
    with pytest.raises(ProviderError) as info:
        plan_speech(settings(stt="deepgram", openai="sk-secret"))
    assert "sk-secret" not in str(info.value)


def test_check_command_reports_missing_key(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from services.agent import __main__ as entry

    monkeypatch.setattr(entry, "get_settings", lambda: settings(stt="deepgram"))
    assert entry.main(["check"]) == 2
    assert "DEEPGRAM_API_KEY" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("env", "value", "name"),
    [
        ("AGENT_STT", "bogus", "AGENT_STT"),
        ("AGENT_PORT", "0", "AGENT_PORT"),
        ("AGENT_IDLE_TIMEOUT", "-1", "AGENT_IDLE_TIMEOUT"),
    ],
)
def test_invalid_setting_is_named(monkeypatch: pytest.MonkeyPatch, capsys, env: str, value: str, name: str) -> None:
    from services.agent import __main__ as entry

    monkeypatch.setenv(env, value)
    monkeypatch.setattr(entry, "get_settings", Settings)
    assert entry.main(["check"]) == 2
    assert f"invalid setting {name}:" in capsys.readouterr().err
