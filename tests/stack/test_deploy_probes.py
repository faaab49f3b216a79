"""The containers' helpers, run as the containers run them, against the running native stack (same settings):
`services.deploy.health SERVICE` (the HEALTHCHECK) and `services.deploy.default_agent` (run once every service
is healthy in compose mode)."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from services.shared.letta import letta_client
from services.shared.settings import Settings

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("web", "agent", "recovery", "llm", "embeddings")


def module(settings: Settings, name: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(settings.stack.dir / "venv/bin/python"), "-m", name, *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # free once closed: nothing listens there


@pytest.mark.parametrize("service", SERVICES)
def test_health_probe_passes_for_a_running_service_and_fails_on_a_dead_port(stack: Settings, service: str) -> None:
    if service in ("llm", "embeddings") and not stack.llm.is_local:
        pytest.skip("a cloud model: the local llm and embeddings do not run")
    ok = module(stack, "services.deploy.health", service)
    assert ok.returncode == 0, ok.stderr
    port_setting = {"web": "WEB_PORT", "agent": "AGENT_PORT", "recovery": "RECOVERY_PORT"}.get(service)
    if port_setting:
        dead = module(stack, "services.deploy.health", service, **{port_setting: str(closed_port())})
        assert dead.returncode == 1 and service in dead.stderr, (dead.returncode, dead.stderr)


def test_health_probe_refuses_an_unknown_service(stack: Settings) -> None:
    out = module(stack, "services.deploy.health", "nope")
    assert out.returncode == 2 and "unknown service" in out.stderr


def test_default_agent_helper_keeps_the_one_default_agent(stack: Settings) -> None:
    client = letta_client(stack, timeout=60)
    before = [a.id for a in client.agents.list(name=stack.letta.default_agent_name)]
    assert len(before) == 1
    out = module(stack, "services.deploy.default_agent")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip(), "it says what it did"
    assert [a.id for a in client.agents.list(name=stack.letta.default_agent_name)] == before
