"""A live voice conversation through the real livekit-server, our worker and the real Letta server."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from services.agent.probe import (
    FALLBACK_LINES,
    Human,
    create_room,
    default_agent_id,
    delete_room,
    dispatch,
    espeak_wav,
    new_room_name,
    our_agents,
    until,
)
from services.shared.livekit import livekit_api
from services.shared.settings import Settings
from tests.helpers import eventually, log_tail, worker_metrics_text

pytestmark = pytest.mark.stack

JOIN_S = 30.0
REPLY_S = 90.0


async def _conversation(settings: Settings, tmp: Path, agent_first: bool) -> Human:
    letta_id = default_agent_id(settings)
    speech = espeak_wav("my name is Ada", tmp / "ada.wav")
    room = new_room_name(settings)
    human = Human(settings, room)
    async with livekit_api(settings) as lk:
        await create_room(lk, room, letta_id)
        try:
            if agent_first:
                await dispatch(lk, settings, room, letta_id)

                async def agent_in_room() -> bool:
                    return bool(await our_agents(lk, settings, room))

                from services.agent.probe import poll

                await poll(agent_in_room, JOIN_S, "our agent to join the empty room")
                await human.join()
            else:
                await human.join()
                await dispatch(lk, settings, room, letta_id)
            await until(lambda: human.agent() is not None, JOIN_S, "the human to see the agent")
            # The greeting (or any speech) reaches the human as audible audio.
            await until(lambda: human.loud_frames > 10, JOIN_S, "audible agent audio")
            await until(lambda: human.agent_state() == "listening", JOIN_S, "the agent to listen")
            spoke_at = time.monotonic()
            human.say_pcm(speech)
            # What the human said comes back as the human's transcript (sent on its behalf), not the agent's.
            await until(
                lambda: "name" in human.user_text(),
                REPLY_S,
                lambda: f"'name' in the human's transcripts {human.transcripts}",
            )
            # A reply: agent audio of a segment that is not the spoken sorry (Letta down or slow speaks that).
            await until(
                lambda: human.reply_frames(spoke_at) > 10,
                REPLY_S,
                lambda: f"a spoken reply that is not a fallback line; agent said {human.agent_text()!r}",
            )
            assert len(await our_agents(lk, settings, room)) == 1
            return human
        finally:
            await human.leave()
            await delete_room(lk, room)


def _metric(settings: Settings, name: str, labels: str) -> float:
    """Sum of one sample over every worker's /metrics (0 when absent)."""
    text = worker_metrics_text(settings)
    prefix = f"{name}{{{labels}}} "
    return sum(float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix))


@pytest.mark.parametrize("agent_first", [True, False], ids=["agent-first", "human-first"])
def test_voice_turn_is_heard_transcribed_and_answered(stack: Settings, tmp_path: Path, agent_first: bool) -> None:
    turns = _metric(stack, "lvs_agent_turns_total", 'role="user"')
    ttfts = _metric(stack, "lvs_agent_turn_stage_seconds_count", 'stage="llm_ttft"')
    try:
        human = asyncio.run(_conversation(stack, tmp_path, agent_first))
    except AssertionError as exc:
        pytest.fail(f"{exc}\n--- agent log ---\n{log_tail(stack, 'agent', 60)}")
    assert "name" in human.user_text()
    assert not any(line in human.agent_text() for line in FALLBACK_LINES), human.agent_text()
    # Per-turn metrics reach the worker's Prometheus endpoint.
    eventually(lambda: _metric(stack, "lvs_agent_turns_total", 'role="user"') > turns, 15, what="user turn metric")
    eventually(
        lambda: _metric(stack, "lvs_agent_turn_stage_seconds_count", 'stage="llm_ttft"') > ttfts,
        30,
        what="Letta time-to-first-token metric",
    )
