"""The AgentServer is configured from settings only (name, dispatch mode, URL, keys, ports)."""

from __future__ import annotations

import pytest

from services.agent.server import agent_name, build_server
from services.shared.settings import AgentSettings, LiveKitSettings, Settings

pytestmark = pytest.mark.unit


def settings(**agent: object) -> Settings:
    return Settings(
        agent=AgentSettings(**agent),
        livekit=LiveKitSettings(url="ws://127.0.0.1:17880", api_key="k-test", api_secret="s" * 32),
    )


@pytest.mark.parametrize(
    ("agent", "name"),
    [
        ({}, "letta-voice"),
        ({"name": "other"}, "other"),
        ({"dispatch": "automatic"}, ""),
        ({"dispatch": "explicit"}, "letta-voice"),
    ],
)
def test_agent_name(agent: dict, name: str) -> None:
    assert agent_name(settings(**agent)) == name


def test_server_takes_everything_from_settings() -> None:
    server = build_server(settings(name="voice-x", port=18081, num_idle_processes=1))
    assert server._agent_name == "voice-x"
    assert (server._ws_url, server._api_key, server._api_secret) == ("ws://127.0.0.1:17880", "k-test", "s" * 32)
    assert server._port == 18081 and server._num_idle_processes == 1
    assert server._request_fnc is not None and server._setup_fnc is not None
    assert server._load_fnc is not None  # jobs / AGENT_MAX_JOBS (policy.job_load), never system CPU
