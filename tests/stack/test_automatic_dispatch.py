"""AGENT_DISPATCH=automatic on the running stack: the worker registers without an agent name, LiveKit dispatches it
into every new room, and a session made through the web API gets exactly one agent, which answers.

The setting is written into the project's .env and applied with `make up`; the original comes back, applied.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from services.agent.probe import Human, default_agent_id, delete_room, espeak_wav, our_agents, until
from services.shared.livekit import LETTA_AGENT_ATTRIBUTE, livekit_api
from services.shared.settings import DispatchMode, Settings
from tests.helpers import holds, settings_applied, worker_logs_tail

pytestmark = pytest.mark.lifecycle

JOIN_S = 60.0
REPLY_S = 120.0


async def scenario(settings: Settings, tmp: Path) -> None:
    letta_id = default_agent_id(settings)
    speech = espeak_wav("What is the capital of France?", tmp / "q.wav", ("en-us", 150))
    async with httpx.AsyncClient(base_url=settings.web.base_url, timeout=30) as web:
        worker = (await web.get(f"http://127.0.0.1:{settings.agent.port}/worker")).json()
        assert worker.get("agent_name", "") == "", f"the worker registered for explicit dispatch: {worker}"
        made = await web.post("/api/sessions", json={"agent_id": letta_id})
        assert made.status_code == 201, made.text
        session = made.json()
    room = session["room"]
    human = Human(settings, room, identity=session["identity"])
    async with livekit_api(settings) as lk:
        try:
            await human.join(session["url"], session["token"])
            await until(lambda: human.agent() is not None, JOIN_S, "an agent in the session's room")

            async def exactly_one() -> bool:
                agents = await our_agents(lk, settings, room)
                return len(agents) == 1 and agents[0].attributes.get(LETTA_AGENT_ATTRIBUTE) == letta_id

            await holds(exactly_one, 5.0, "exactly one agent of ours, serving the session's Letta agent")
            await until(lambda: human.agent_state() == "listening", JOIN_S, "the agent to listen")
            spoke_at = time.monotonic()
            human.say_pcm(speech)
            await until(
                lambda: human.reply_frames(spoke_at) > 10,
                REPLY_S,
                lambda: f"a spoken reply that is not a fallback line; agent said {human.agent_text()!r}",
            )
            assert "paris" in human.agent_text(), human.transcripts
            assert len(await our_agents(lk, settings, room)) == 1
        finally:
            await human.leave()
            await delete_room(lk, room)


def test_a_web_session_gets_exactly_one_agent_that_answers(stack: Settings, tmp_path: Path) -> None:
    with settings_applied("AGENT_DISPATCH=automatic") as settings:
        assert settings.agent.dispatch is DispatchMode.AUTOMATIC
        try:
            asyncio.run(scenario(settings, tmp_path))
        except AssertionError as error:
            pytest.fail(f"{error}\n{worker_logs_tail(settings, 40)}")
