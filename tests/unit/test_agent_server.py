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


class _FakeServer:
    """What the load function reads of the AgentServer: its running jobs."""

    def __init__(self, running: int) -> None:
        self.active_jobs = [object()] * running


def test_server_takes_everything_from_settings() -> None:
    server = build_server(settings(name="voice-x", port=18081, num_idle_processes=1, max_jobs=4))
    assert server._agent_name == "voice-x"
    assert (server._ws_url, server._api_key, server._api_secret) == ("ws://127.0.0.1:17880", "k-test", "s" * 32)
    assert server._port == 18081 and server._num_idle_processes == 1
    assert server._request_fnc is not None and server._setup_fnc is not None
    # jobs / AGENT_MAX_JOBS (policy.job_load), never system CPU
    assert [server._load_fnc(_FakeServer(n)) for n in (0, 1, 4, 5)] == [0.0, 0.25, 1.0, 1.0]


def test_the_worker_skips_livekits_local_end_of_turn_model(monkeypatch: pytest.MonkeyPatch) -> None:
    from livekit.agents.ipc import _preload

    from services.agent.server import PRELOAD_LOCAL_INFERENCE_ENV, skip_unused_local_models

    environ: dict[str, str] = {}
    skip_unused_local_models(environ)
    assert environ == {PRELOAD_LOCAL_INFERENCE_ENV: "0"}
    explicit = {PRELOAD_LOCAL_INFERENCE_ENV: "1"}
    skip_unused_local_models(explicit)
    assert explicit == {PRELOAD_LOCAL_INFERENCE_ENV: "1"}  # an operator's choice wins
    # livekit-agents reads that very variable, and "0" means: load neither its VAD nor its turn model
    assert _preload.ENV_PRELOAD_LOCAL_INFERENCE == PRELOAD_LOCAL_INFERENCE_ENV
    monkeypatch.setenv(PRELOAD_LOCAL_INFERENCE_ENV, "0")
    assert _preload._local_inference_models() is False


def test_the_worker_reports_its_load_every_half_second() -> None:
    from livekit.agents import worker

    from services.agent.server import STATUS_REPORT_S

    build_server(settings(name="voice-x", port=18081, num_idle_processes=1))
    # read when the worker's connection starts: a freed job slot reaches livekit-server within ~1 s, not 3 s
    assert worker.UPDATE_STATUS_INTERVAL == STATUS_REPORT_S <= worker.UPDATE_LOAD_INTERVAL


def test_every_preloaded_module_imports() -> None:
    import importlib

    from services.agent.server import PRELOAD_MODULES

    for name in PRELOAD_MODULES:  # livekit-agents' forkserver would fail to start on a missing one
        importlib.import_module(name)
