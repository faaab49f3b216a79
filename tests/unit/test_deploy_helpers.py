"""The containers' helpers: services.deploy.health (Docker HEALTHCHECK) and services.deploy.default_agent."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from services.deploy import default_agent, health
from services.shared.letta_agents import ModelNotFound
from services.shared.settings import Settings

pytestmark = pytest.mark.unit


@contextmanager
def answering(status: int) -> Iterator[int]:
    """A real HTTP server on a free loopback port answering every GET with `status`."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_health_urls_follow_the_port_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {"WEB_PORT": "7001", "AGENT_PORT": "7002", "RECOVERY_PORT": "7003", "AGENT_INSTANCE": "0"}
    monkeypatch.delenv("AGENT_SLOTS_DIR", raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert health.health_url(settings, "web") == f"{settings.web.base_url}/healthz"
    assert ":7001/" in health.health_url(settings, "web")
    assert health.health_url(settings, "agent") == "http://127.0.0.1:7002/"
    assert health.health_url(settings, "recovery") == "http://127.0.0.1:7003/healthz"
    assert health.health_url(settings, "llm") == f"{settings.llm.local_base_url}/models"
    assert health.health_url(settings, "embeddings") == f"{settings.embeddings.base_url}/models"


def test_an_unknown_service_is_named_with_the_known_ones() -> None:
    with pytest.raises(KeyError) as raised:
        health.health_url(Settings(), "nope")
    assert "nope" in raised.value.args[0] and "web, agent, recovery, llm, embeddings" in raised.value.args[0]


@pytest.mark.parametrize("argv", [[], ["web", "agent"]])
def test_main_wants_exactly_one_service(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert health.main(argv) == 2
    assert "usage: python -m services.deploy.health SERVICE" in capsys.readouterr().err


def test_main_refuses_an_unknown_service(capsys: pytest.CaptureFixture[str]) -> None:
    assert health.main(["nope"]) == 2
    assert "health: unknown service 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize(("status", "code"), [(200, 0), (204, 0), (503, 1), (404, 1)])
def test_main_passes_only_a_2xx_answer(
    status: int, code: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with answering(status) as port:
        monkeypatch.setattr(health, "get_settings", lambda: Settings(recovery={"port": port}))
        assert health.main(["recovery"]) == code
    if code:
        assert f"recovery at http://127.0.0.1:{port}/healthz" in capsys.readouterr().err


def test_main_fails_on_a_port_nobody_listens_on(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with answering(200) as port:
        pass  # closed again: nothing listens there now
    monkeypatch.setattr(health, "get_settings", lambda: Settings(agent={"port": port, "instance": 0}))
    assert health.main(["agent"]) == 1
    assert f"health: agent at http://127.0.0.1:{port}/" in capsys.readouterr().err


def test_default_agent_prints_what_it_did(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(default_agent, "load_settings_or_exit", Settings)
    monkeypatch.setattr(default_agent, "ensure_default_agent", lambda s: f"default agent {s.letta.default_agent_name}")
    assert default_agent.main() == 0
    assert capsys.readouterr().out == "    default agent voice-assistant\n"


def test_default_agent_fails_naming_a_missing_model(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def missing(_: Settings) -> str:
        raise ModelNotFound("Letta offers no model openai-proxy/nope")

    monkeypatch.setattr(default_agent, "load_settings_or_exit", Settings)
    monkeypatch.setattr(default_agent, "ensure_default_agent", missing)
    assert default_agent.main() == 1
    assert capsys.readouterr().err == "error: Letta offers no model openai-proxy/nope\n"
