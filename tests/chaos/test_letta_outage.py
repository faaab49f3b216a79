"""Letta stopped mid-session: the agent says a short sorry, the session survives, the next turn is answered;
the web service's /readyz answers 503 in JSON naming Letta while it is down, and 200 once it is back."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import httpx
import pytest

from services.agent.probe import (
    Human,
    human_with_agent,
    our_agents,
    until,
)
from services.agent.voice import SORRY_EMPTY, SORRY_INTERRUPTED, SORRY_UNAVAILABLE
from services.shared.letta import letta_client
from services.shared.letta_agents import create_voice_agent
from services.shared.settings import Settings
from services.stack.cli import wait_healthy
from services.stack.programs import programs
from services.stack.supervisor import Supervisor
from tests.helpers import log_tail

pytestmark = [pytest.mark.stack, pytest.mark.chaos]
SORRY_WORDS = "cannot reach my memory"
FALLBACKS = {line.lower().strip() for line in (SORRY_EMPTY, SORRY_INTERRUPTED, SORRY_UNAVAILABLE)}


def agent_lines(human: Human) -> list[str]:
    """What the agent said (its own transcripts), in order."""
    agent = human.agent()
    return [text.lower() for sender, text in human.transcripts if agent and sender == agent.identity]


async def readiness(settings: Settings) -> tuple[int, object]:
    """The web service's GET /readyz: status and JSON body (None when the body is not JSON)."""
    response = await asyncio.to_thread(httpx.get, f"{settings.web.base_url}/readyz", timeout=10)
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, None


async def _outage(settings: Settings, letta_id: str) -> str:
    """Run the outage; return its figure."""
    sup = Supervisor(settings)
    letta = next(p for p in programs(settings) if p.name == "letta")
    async with human_with_agent(settings, letta_id) as (lk, human):
        room = human.room_name
        try:
            await until(lambda: human.agent_state() == "listening", 60, "the agent to listen")
            sup.stop("letta")
            asked = time.monotonic()
            await human.room.local_participant.send_text("Are you there?", topic="lk.chat")
            await until(lambda: any(SORRY_WORDS in t for t in agent_lines(human)), 60, "the spoken sorry")
            sorry = time.monotonic() - asked
            assert len(await our_agents(lk, settings, room)) == 1, "the agent left when Letta went away"
            status, body = await readiness(settings)
            assert status == 503, f"/readyz answered {status} with Letta down: {body!r}"
            assert isinstance(body, dict) and body.get("down") == ["letta"], body
            assert body.get("checks") == {"livekit": True, "letta": False}, body

            sup.start("letta")
            await asyncio.to_thread(wait_healthy, settings, sup, [letta])
            said_before, asked = len(agent_lines(human)), time.monotonic()
            await human.room.local_participant.send_text("Hello again, how are you?", topic="lk.chat")
            await until(
                lambda: any(t.strip() and t.strip() not in FALLBACKS for t in agent_lines(human)[said_before:]),
                120,
                "an answer after Letta came back",
            )
            answered = time.monotonic() - asked
            assert len(await our_agents(lk, settings, room)) == 1
            assert await readiness(settings) == (200, {"status": "ok", "checks": {"livekit": True, "letta": True}})
        finally:
            sup.start("letta")  # a no-op when it runs; after a failure the next test needs Letta healthy
            await asyncio.to_thread(wait_healthy, settings, sup, [letta])
    return f"sorry {sorry:.1f} s after a turn with Letta down; answer {answered:.1f} s after a turn once it was back"


def test_letta_outage_is_survived(stack: Settings, chaos_figure: Callable[[str], None]) -> None:
    """Letta stopped mid-session"""
    assert SORRY_WORDS in SORRY_UNAVAILABLE.lower()
    # An assistant of its own: a short history keeps the small model's turns short.
    client = letta_client(stack, timeout=60)
    agent = create_voice_agent(client, stack, f"chaos-outage-{uuid.uuid4().hex[:8]}", "I am brief.", "A tester.")
    try:
        chaos_figure(asyncio.run(_outage(stack, agent.id)))
    except AssertionError as error:
        pytest.fail(f"{error}\n--- agent log ---\n{log_tail(stack, 'agent', 60)}")
    finally:
        client.agents.delete(agent.id)
