"""Typed chat and switching the Letta agent mid-session, through the real stack."""

from __future__ import annotations

import asyncio
import json

import pytest

from services.agent.probe import (
    Human,
    create_room,
    default_agent_id,
    delete_room,
    dispatch,
    new_room_name,
    until,
)
from services.shared.livekit import LETTA_AGENT_ATTRIBUTE, livekit_api
from services.shared.settings import Settings
from tests.helpers import log_tail

pytestmark = pytest.mark.stack

JOIN_S = 30.0
REPLY_S = 90.0
MISSING_ID = "agent-00000000-0000-4000-8000-00000000abcd"


async def _switch_and_chat(settings: Settings) -> None:
    letta_id = default_agent_id(settings)
    room = new_room_name(settings)
    human = Human(settings, room)
    async with livekit_api(settings) as lk:
        await create_room(lk, room, letta_id)
        try:
            await human.join()
            await dispatch(lk, settings, room, letta_id)
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
        finally:
            await human.leave()
            await delete_room(lk, room)


def test_typed_chat_is_answered_and_agent_switch_is_checked(stack: Settings) -> None:
    try:
        asyncio.run(_switch_and_chat(stack))
    except AssertionError as exc:
        pytest.fail(f"{exc}\n--- agent log ---\n{log_tail(stack, 'agent', 60)}")
