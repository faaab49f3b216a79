"""A switch mid-session keeps the web service's rules (issue 11): only the session user's agents, never one
that is live in another session, and the room's metadata follows the switch. Real LiveKit, worker and Letta."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from livekit import api

from services.agent.probe import Human, default_agent_id, delete_room, dispatch, new_room_name, until
from services.shared.letta import letta_client
from services.shared.letta_agents import create_voice_agent
from services.shared.livekit import LETTA_AGENT_ATTRIBUTE, livekit_api, parse_room_metadata, room_metadata
from services.shared.settings import Settings
from tests.helpers import log_tail

pytestmark = pytest.mark.stack

JOIN_S = 60.0
REPLY_S = 90.0
REFUSED = "cannot find"


async def _room_meta(lk: api.LiveKitAPI, room: str) -> dict[str, object]:
    rooms = (await lk.room.list_rooms(api.ListRoomsRequest(names=[room]))).rooms
    return parse_room_metadata(rooms[0].metadata) if rooms else {}


async def _scenario(settings: Settings, mine: str, also_mine: str) -> None:
    admins = default_agent_id(settings)  # untagged: not bob's
    room, rival = new_room_name(settings), new_room_name(settings)
    human = Human(settings, room)
    async with livekit_api(settings) as lk:
        meta = room_metadata(mine, user="bob", admin=False)
        await lk.room.create_room(api.CreateRoomRequest(name=room, metadata=meta))
        try:
            await human.join()
            await dispatch(lk, settings, room, mine)
            await until(lambda: human.agent_state() == "listening", JOIN_S, "the agent to listen")
            local = human.room.local_participant

            async def switch(agent_id: str) -> None:
                await asyncio.sleep(1.2)  # one switch a second per participant
                await local.send_text(json.dumps({"letta_agent_id": agent_id}), topic="lvs.switch-agent")

            # Someone else's (the admins') agent: refused, nothing changes.
            await switch(admins)
            await until(lambda: human.transcript_text().count(REFUSED) >= 1, REPLY_S, "the refused switch")
            assert (await _room_meta(lk, room))["letta_agent_id"] == mine

            # Bob's other agent: accepted; the attribute and the room's metadata name it.
            await switch(also_mine)
            await until(lambda: "switched" in human.transcript_text(), REPLY_S, "the switch announcement")
            assert human.agent().attributes[LETTA_AGENT_ATTRIBUTE] == also_mine
            updated = await _room_meta(lk, room)
            assert updated["letta_agent_id"] == also_mine and updated["user"] == "bob"

            # Back to the first while a newer session holds it (minted, inside the grace): refused.
            await lk.room.create_room(
                api.CreateRoomRequest(name=rival, metadata=room_metadata(mine, user="bob", admin=False))
            )
            await switch(mine)
            await until(lambda: human.transcript_text().count(REFUSED) >= 2, REPLY_S, "the second refusal")
            assert (await _room_meta(lk, room))["letta_agent_id"] == also_mine
        finally:
            await human.leave()
            await delete_room(lk, room)
            await delete_room(lk, rival)


def test_switch_checks_owner_and_live_sessions_and_updates_the_room(stack: Settings) -> None:
    letta = letta_client(stack, timeout=60)
    made = [
        create_voice_agent(letta, stack, f"bob-{uuid.uuid4().hex[:6]}", "I answer briefly.", "Bob.", owner="bob")
        for _ in range(2)
    ]
    try:
        asyncio.run(_scenario(stack, made[0].id, made[1].id))
    except AssertionError as exc:
        pytest.fail(f"{exc}\n--- agent log ---\n{log_tail(stack, 'agent', 60)}")
    finally:
        for agent in made:
            letta.agents.delete(agent.id)
