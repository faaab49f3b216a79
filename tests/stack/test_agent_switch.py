"""Typed chat and switching the Letta agent mid-session, through the real stack.

The switch goes to a second, different Letta agent: the next typed turn must land in that agent's Letta
history (read back through Letta's API), and the first agent's history must not get it.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from services.agent.probe import (
    default_agent_id,
    human_with_agent,
    poll,
    until,
)
from services.shared.letta import letta_client
from services.shared.letta_agents import create_voice_agent
from services.shared.livekit import LETTA_AGENT_ATTRIBUTE
from services.shared.settings import Settings
from tests.helpers import log_tail, worker_logs_tail

pytestmark = pytest.mark.stack

JOIN_S = 30.0
REPLY_S = 90.0
HISTORY_S = 120.0  # a second agent's first turn is a cold Letta prompt on the small offline model
MISSING_ID = "agent-00000000-0000-4000-8000-00000000abcd"


def history_text(settings: Settings, letta_id: str) -> str:
    """Every text of the Letta agent's latest messages (user and assistant), lowercased, for word checks."""
    messages = letta_client(settings, timeout=30).agents.messages.list(letta_id, limit=100, order="desc")
    return " ".join(str(getattr(m, "content", "") or "") for m in messages).lower()


async def in_history(settings: Settings, letta_id: str, word: str) -> bool:
    return word in await asyncio.to_thread(history_text, settings, letta_id)


async def _switch_and_chat(settings: Settings, second_id: str) -> None:
    first_id = default_agent_id(settings)
    before_word, after_word = f"kiwi{uuid.uuid4().hex[:6]}", f"mango{uuid.uuid4().hex[:6]}"
    async with human_with_agent(settings, first_id) as (_lk, human):
        await until(lambda: human.agent() is not None, JOIN_S, "the agent to join")
        await until(lambda: human.agent_state() == "listening", JOIN_S, "the agent to listen")
        local = human.room.local_participant

        # Typed text goes to the first Letta agent like speech, and the answer is spoken.
        said = len(human.transcripts)
        before = human.loud_frames
        await local.send_text(f"Hello there, my code word is {before_word}.", topic="lk.chat")
        await until(lambda: human.loud_frames > before + 10, REPLY_S, "a spoken answer to typed text")
        await until(lambda: len(human.transcripts) > said, REPLY_S, "the answer's transcript")
        await poll(lambda: in_history(settings, first_id, before_word), HISTORY_S, "the first turn in Letta", 1.0)

        # An unknown id is refused and the agent says so; the attribute stays.
        await local.send_text(json.dumps({"letta_agent_id": MISSING_ID}), topic="lvs.switch-agent")
        await until(lambda: "cannot find" in human.transcript_text(), REPLY_S, "the refused switch")
        agent = human.agent()
        assert agent is not None and agent.attributes[LETTA_AGENT_ATTRIBUTE] == first_id

        # A second, different agent: accepted, announced, published as attribute.
        await asyncio.sleep(1.2)  # one switch a second per participant (a rate rule, not a synchronisation)
        await local.send_text(json.dumps({"letta_agent_id": second_id}), topic="lvs.switch-agent")
        await until(lambda: "switched" in human.transcript_text(), REPLY_S, "the switch announcement")
        await until(
            lambda: human.agent().attributes.get(LETTA_AGENT_ATTRIBUTE) == second_id, JOIN_S, "the new attribute"
        )

        # The next turn goes to the second agent, and only to it.
        await local.send_text(f"Please note the word {after_word}.", topic="lk.chat")
        await poll(lambda: in_history(settings, second_id, after_word), HISTORY_S, "the turn in agent 2", 1.0)
        assert not await in_history(settings, first_id, after_word), "the turn after the switch reached agent 1"
        assert not await in_history(settings, second_id, before_word), "agent 2 got the turn before the switch"


def test_typed_chat_is_answered_and_a_switch_moves_the_next_turn_to_the_new_agent(stack: Settings) -> None:
    letta = letta_client(stack, timeout=60)
    second = create_voice_agent(letta, stack, f"switch-to-{uuid.uuid4().hex[:8]}", "I am the second one.", "A tester.")
    try:
        asyncio.run(_switch_and_chat(stack, second.id))
    except AssertionError as exc:
        pytest.fail(f"{exc}\n{worker_logs_tail(stack, 60)}\n--- letta log ---\n{log_tail(stack, 'letta', 20)}")
    finally:
        letta.agents.delete(second.id)
