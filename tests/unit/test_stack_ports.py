"""`make up` refuses a taken port, naming the setting that chooses it."""

from __future__ import annotations

import socket

import pytest

from services.shared.settings import Settings
from services.stack.cli import StackError, check_ports
from services.stack.programs import programs

pytestmark = pytest.mark.unit


class NotRunning:
    def running(self) -> bool:
        return False


def test_taken_port_names_service_and_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        monkeypatch.setenv("WEB_PORT", str(port))
        settings = Settings()
        web_only = [p for p in programs(settings) if p.name == "web"]
        with pytest.raises(StackError, match=rf"web port {port} \(WEB_PORT\)"):
            check_ports(settings, web_only, NotRunning())  # type: ignore[arg-type]


def test_the_port_map_of_the_default_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "LIVEKIT_PORT",
        "POSTGRES_PORT",
        "LETTA_PORT",
        "AGENT_PORT",
        "WEB_PORT",
        "RECOVERY_PORT",
        "LLM_PORT",
        "EMBEDDINGS_PORT",
        "SPEECH_PORT",
        "AGENT_WORKERS",
        "LIVEKIT_NODES",
        "LIVEKIT_BIND",
        "OPENAI_API_KEY",
        "LLM_PROVIDER",
        "AGENT_STT",
        "AGENT_TTS",
    ):
        monkeypatch.delenv(name, raising=False)
    assert Settings().ports() == {
        "livekit": 7880,
        "postgres": 5433,
        "letta": 8283,
        "agent": 8081,
        "web": 8080,
        "recovery": 8082,
        "llm": 8090,
        "embeddings": 8098,
        "speech": 8095,
    }


def test_the_port_map_follows_workers_nodes_bind_and_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "AGENT_WORKERS": "3",
        "LIVEKIT_NODES": "2",
        "LIVEKIT_BIND": "0.0.0.0",
        "LIVEKIT_API_SECRET": "s" * 40,
        "OPENAI_API_KEY": "sk-test",
        "AGENT_STT": "openai",
        "AGENT_TTS": "openai",
        "REDIS_PORT": "6390",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    ports = Settings().ports()
    assert ports == {
        "livekit": 7880,
        "postgres": 5433,
        "letta": 8283,
        "agent": 8081,
        "agent-2": 8181,
        "agent-3": 8281,
        "web": 8080,
        "recovery": 8082,
        "livekit-rtc-tcp": 7881,
        "redis": 6390,
        "livekit-2": 7980,
        "livekit-2-rtc-tcp": 7981,
    }, "cloud LLM and speech: no llm, embeddings or speech port"
    monkeypatch.setenv("AGENT_TTS", "offline")
    assert Settings().ports()["speech"] == 8095, "offline TTS alone needs the speech service"
