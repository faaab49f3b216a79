"""Typed chat and switching the Letta agent mid-session, through the real stack."""

from __future__ import annotations

import asyncio
import json

import pytest

from services.agent.probe import (
    default_agent_id,
    human_with_agent,
    until,
)
from services.shared.livekit import LETTA_AGENT_ATTRIBUTE
from services.shared.settings import Settings
from tests.helpers import log_tail

pytestmark = pytest.mark.stack

JOIN_S = 30.0
REPLY_S = 90.0
MISSING_ID = "agent-00000000-0000-4000-8000-00000000abcd"


async def _switch_and_chat(settings: Settings) -> None:
    letta_id = default_agent_id(settings)
    async with human_with_agent(settings, letta_id) as (_lk, human):
        await until(lambda: human.agent() is not None, JOIN_S, "the agent to join")
        await until(lambda: human.agent_state() == "listening", JOIN_S, "the agent to listen")
        local = human.room.local_participant

        # Typed text goes to Letta like speech, and the answer is spoken.
        said = len(human.transcripts)
        before = human.loud_frames
        await local.send_text("Hello there, who are you?", topic="lk.chat")
        await until(lambda: human.loud_frames > before + 10, REPLY_S, "a spoken answer to typed text")
        await until(lambda: len(human.transcripts) > said, REPLY_S, "the answer's transcript")

        # An unknown id is refused and the agent says so; the attribute stays.
        await local.send_text(json.dumps({"letta_agent_id": MISSING_ID}), topic="lvs.switch-agent")
        await until(lambda: "cannot find" in human.transcript_text(), REPLY_S, "the refused switch")
        agent = human.agent()
        assert agent is not None and agent.attributes[LETTA_AGENT_ATTRIBUTE] == letta_id

        # A valid id (here the same agent again) is accepted, announced and published as attribute.
        await local.send_text(json.dumps({"letta_agent_id": letta_id}), topic="lvs.switch-agent")
        await until(lambda: "switched" in human.transcript_text(), REPLY_S, "the switch announcement")
        assert human.agent().attributes[LETTA_AGENT_ATTRIBUTE] == letta_id


def test_typed_chat_is_answered_and_agent_switch_is_checked(stack: Settings) -> None:
    try:
        asyncio.run(_switch_and_chat(stack))
    except AssertionError as exc:
        pytest.fail(f"{exc}\n--- agent log ---\n{log_tail(stack, 'agent', 60)}")
