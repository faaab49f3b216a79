"""livekit-server restarted mid-session: the client is told (or reconnects), and a new session works."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import httpx
import pytest
from livekit import rtc

from services.agent.probe import Human, until
from services.shared.letta import letta_client
from services.shared.letta_agents import create_voice_agent
from services.shared.settings import Settings
from services.stack.cli import wait_healthy
from services.stack.programs import programs
from services.stack.supervisor import Supervisor
from tests.helpers import log_tail

pytestmark = [pytest.mark.stack, pytest.mark.chaos]
CLIENT_S = 60.0  # the client hears of the restart: reconnected, or disconnected with a reason
SESSION_S = 90.0  # the worker registers again and joins a new session


class Watched:
    """A Human whose room reports what happened to its connection."""

    def __init__(self, human: Human) -> None:
        self.human = human
        self.outcome: str | None = None
        human.room.on("reconnected", lambda: self._set("reconnected"))
        human.room.on("disconnected", lambda reason: self._set(f"disconnected ({rtc.DisconnectReason.Name(reason)})"))

    def _set(self, outcome: str) -> None:
        self.outcome = self.outcome or outcome


async def open_session(settings: Settings, letta_id: str) -> Human:
    """A session through the web API (room, dispatch, token), joined by a human."""
    async with httpx.AsyncClient(timeout=30) as http:
        resp = await http.post(f"{settings.web.base_url}/api/sessions", json={"agent_id": letta_id})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    human = Human(settings, body["room"], identity=body["identity"])
    await human.join(url=settings.livekit.url, token=body["token"])
    return human


async def _restart(settings: Settings, letta_id: str) -> str:
    sup = Supervisor(settings)
    livekit = next(p for p in programs(settings) if p.name == "livekit")
    first = await open_session(settings, letta_id)
    watched = Watched(first)
    second: Human | None = None
    try:
        await until(lambda: first.agent() is not None, SESSION_S, "the agent in the first session")
        restarted = time.monotonic()
        await asyncio.to_thread(sup.stop, "livekit")
        await asyncio.to_thread(sup.start, "livekit")
        await asyncio.to_thread(wait_healthy, settings, sup, [livekit])
        back = time.monotonic() - restarted
        # A new session at once: the web service, the worker's registration and media all work again.
        second = await until_session(settings, letta_id)
        await until(lambda: second.agent() is not None, SESSION_S, "the agent in a new session")
        joined = time.monotonic() - restarted
        if settings.agent.greeting.strip():
            await until(lambda: second.loud_frames > 10, SESSION_S, "the agent's greeting in the new session")
        # The first client, whose room the restart wiped, is told (or gets back in).
        await until(lambda: watched.outcome, CLIENT_S, "the client to reconnect or be told it was disconnected")
        told = time.monotonic() - restarted
    finally:
        for human in (first, second):
            if human is not None:
                await human.leave()
                await end_session(settings, human.room_name)
    return (
        f"livekit back {back:.1f} s after the stop; client {watched.outcome} after {told:.1f} s; "
        f"agent in a new session {joined:.1f} s after the restart"
    )


async def until_session(settings: Settings, letta_id: str) -> Human:
    """Open a new session, retrying while the old one is still listed as live (409) or LiveKit warms up."""
    deadline = time.monotonic() + SESSION_S
    while True:
        try:
            return await open_session(settings, letta_id)
        except (AssertionError, rtc.ConnectError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1.0)


async def end_session(settings: Settings, room: str) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        await http.delete(f"{settings.web.base_url}/api/sessions/{room}")


def test_livekit_restart_is_survived(stack: Settings, chaos_figure: Callable[[str], None]) -> None:
    """livekit-server restarted mid-session"""
    client = letta_client(stack, timeout=60)
    agent = create_voice_agent(client, stack, f"chaos-lkrestart-{uuid.uuid4().hex[:8]}", "I am brief.", "A tester.")
    try:
        chaos_figure(asyncio.run(_restart(stack, agent.id)))
    except AssertionError as error:
        pytest.fail(
            f"{error}\n--- agent log ---\n{log_tail(stack, 'agent', 40)}\n--- livekit log ---\n"
            f"{log_tail(stack, 'livekit', 20)}"
        )
    finally:
        sup = Supervisor(stack)
        sup.start("livekit")
        client.agents.delete(agent.id)
