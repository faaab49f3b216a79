"""The native stack: every service healthy, dispatch into a room, Letta answering through the local model."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest
from livekit import api

from services.shared.letta import letta_client, letta_headers
from services.shared.livekit import livekit_api, room_metadata
from services.shared.settings import Settings
from services.stack.health import probe
from services.stack.programs import programs
from services.stack.supervisor import Supervisor
from tests.helpers import log_tail

pytestmark = pytest.mark.stack


def default_agent_id(settings: Settings) -> str:
    agents = list(letta_client(settings).agents.list(name=settings.letta.default_agent_name))
    assert len(agents) == 1, f"expected exactly one default agent, found {len(agents)}"
    return agents[0].id


def test_every_service_answers_its_health_endpoint(stack: Settings) -> None:
    down = [p.name for p in programs(stack) if not probe(p.health)]
    assert not down, "unhealthy: " + ", ".join(f"{n}\n{log_tail(stack, n)}" for n in down)


def test_status_lists_every_service_healthy(stack: Settings) -> None:
    out = subprocess.run(
        [str(stack.stack.dir / "venv/bin/python"), "-m", "services.stack", "status"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    for prog in programs(stack):
        line = next((ln for ln in out.splitlines() if ln.startswith(prog.name + " ")), "")
        assert "RUNNING" in line and "healthy" in line, f"{prog.name} not healthy in status:\n{out}"


def test_letta_and_livekit_report_their_versions(stack: Settings) -> None:
    health = httpx.get(f"{stack.letta.base_url}/v1/health/", headers=letta_headers(stack), timeout=5).json()
    assert health == {"version": "0.16.8", "status": "ok"}
    assert httpx.get(f"{stack.web.base_url}/readyz", timeout=10).status_code == 200


LIVEKIT_SERVER_VERSION = "1.13.5"  # ARCHITECTURE.md's pin (scripts/install-livekit.sh builds v1.13.5)


def test_the_running_livekit_server_is_the_pinned_version(stack: Settings) -> None:
    """The binary behind the running livekit process, not merely the one on disk, reports v1.13.5."""
    pid = Supervisor(stack).info()["livekit"].pid
    exe = Path(f"/proc/{pid}/exe").resolve()
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True, timeout=30).stdout
    assert out.strip() == f"livekit-server version {LIVEKIT_SERVER_VERSION}", (exe, out)
    assert httpx.get(stack.livekit.http_url, timeout=5).status_code == 200  # and it is the one answering


def test_default_agent_exists_once_and_is_kept(stack: Settings) -> None:
    from services.shared.letta_agents import ensure_default_agent

    first = default_agent_id(stack)
    message = ensure_default_agent(stack)
    assert "exists" in message
    assert default_agent_id(stack) == first


def test_letta_streams_an_answer_from_the_local_model(stack: Settings) -> None:
    body = {
        "model": default_agent_id(stack),
        "stream": True,
        "messages": [{"role": "user", "content": "Say hello in three words."}],
    }
    text = []
    with httpx.stream(
        "POST", f"{stack.letta.openai_url}/chat/completions", json=body, headers=letta_headers(stack), timeout=120
    ) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                chunk = json.loads(line.removeprefix("data: "))
                text += [c["delta"].get("content") or "" for c in chunk["choices"]]
    assert "".join(text).strip(), f"Letta streamed no text\n{log_tail(stack, 'letta')}"


async def _dispatch_and_wait_for_agent(settings: Settings, letta_agent_id: str) -> list[str]:
    room = f"{settings.recovery.room_prefix}test-{uuid.uuid4().hex[:8]}"
    async with livekit_api(settings) as lk:
        await lk.room.create_room(api.CreateRoomRequest(name=room, metadata=room_metadata(letta_agent_id)))
        try:
            await lk.agent_dispatch.create_dispatch(
                api.CreateAgentDispatchRequest(
                    agent_name=settings.agent.name, room=room, metadata=json.dumps({"letta_agent_id": letta_agent_id})
                )
            )
            async with asyncio.timeout(30):
                while True:
                    res = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
                    agents = [p.identity for p in res.participants if p.kind == api.ParticipantInfo.Kind.AGENT]
                    if agents:
                        return agents
                    await asyncio.sleep(0.2)
        finally:
            await lk.room.delete_room(api.DeleteRoomRequest(room=room))


def test_worker_is_dispatched_into_a_new_room(stack: Settings) -> None:
    try:
        agents = asyncio.run(_dispatch_and_wait_for_agent(stack, default_agent_id(stack)))
    except TimeoutError:
        pytest.fail(f"no agent joined the room in 30s\n{log_tail(stack, 'agent')}")
    assert len(agents) == 1
    assert agents[0].startswith(stack.agent.identity_prefix)
