"""100 session requests for one agent at once, each from its own client address, against the real web service.

Every request reaches the session logic (the rate limiter keys on the client address). Exactly one session
may come out of the race: one 201, 99 409s naming its room, one room, one agent of ours in it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

import httpx
import pytest
from livekit import api

from services.agent.probe import delete_room, poll
from services.shared.letta import letta_client
from services.shared.letta_agents import create_voice_agent
from services.shared.livekit import livekit_api, parse_room_metadata
from services.shared.settings import Settings
from services.web.policy import is_session_room_name
from tests.chaos.loopback import addresses, assert_web_sees, client
from tests.helpers import holds, log_entries, log_size, log_tail

pytestmark = [pytest.mark.stack, pytest.mark.chaos]
REQUESTS = 100
FIRST_SOURCE = "127.0.0.2"  # 127.0.0.2 ... 127.0.0.101
JOIN_TIMEOUT = 60.0  # dispatch + job start on a shared 2-core machine
HOLD_ONE_AGENT_S = 8.0  # longer than a second job takes to join once dispatched (1-2 s measured)


@dataclass(frozen=True)
class Answer:
    status: int
    body: object

    @property
    def room(self) -> str | None:
        room = self.body.get("room") if isinstance(self.body, dict) else None
        return room if isinstance(room, str) else None


async def post_session(c: httpx.AsyncClient, agent_id: str) -> Answer:
    response = await c.post("/api/sessions", json={"agent_id": agent_id})
    try:
        body = response.json()
    except ValueError:
        body = response.text[:200]
    return Answer(response.status_code, body)


async def fire(settings: Settings, agent_id: str, sources: list[str]) -> list[Answer]:
    """One POST /api/sessions from each source address, all at once."""
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(client(settings, a)) for a in sources]
        return list(await asyncio.gather(*(post_session(c, agent_id) for c in clients)))


async def agent_rooms(lk: api.LiveKitAPI, settings: Settings, agent_id: str) -> list[str]:
    """Names of the stack's rooms bound to this Letta agent."""
    listed = await lk.room.list_rooms(api.ListRoomsRequest())
    return sorted(
        r.name
        for r in listed.rooms
        if r.name.startswith(settings.recovery.room_prefix)
        and parse_room_metadata(r.metadata).get("letta_agent_id") == agent_id
    )


async def stray_rooms(lk: api.LiveKitAPI, settings: Settings, agent_id: str, before: set[str]) -> list[str]:
    """Session rooms new since `before` that belong to this agent or to no one (a late join re-creates a room)."""
    listed = await lk.room.list_rooms(api.ListRoomsRequest())
    return sorted(
        r.name
        for r in listed.rooms
        if r.name not in before
        and is_session_room_name(r.name, settings.recovery.room_prefix)
        and parse_room_metadata(r.metadata).get("letta_agent_id") in (None, agent_id)
    )


def rooms_opened(settings: Settings, offset: int) -> int:
    """Session rooms livekit-server logged as created after `offset` bytes of its log (losers of the race too)."""
    return len(
        {
            str(e.get("room"))
            for e in log_entries(settings, "livekit", offset)
            if e.get("msg") == "API RoomService.CreateRoom"
            and is_session_room_name(str(e.get("room")), settings.recovery.room_prefix)
        }
    )


async def agents_in(lk: api.LiveKitAPI, settings: Settings, room: str) -> list[str]:
    """Identities of our agents in a room (agent kind or our identity prefix)."""
    listed = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
    return [
        p.identity
        for p in listed.participants
        if p.kind == api.ParticipantInfo.Kind.AGENT or p.identity.startswith(settings.agent.identity_prefix)
    ]


async def race(settings: Settings, agent_id: str, sources: list[str]) -> str:
    """Fire the requests, check the outcome, remove every room the race made; return the figure."""
    async with livekit_api(settings) as lk:
        made: set[str] = set()
        before = {r.name for r in (await lk.room.list_rooms(api.ListRoomsRequest())).rooms}
        offset = log_size(settings, "livekit")
        try:
            started = time.monotonic()
            answers = await fire(settings, agent_id, sources)
            elapsed = time.monotonic() - started
            made |= {a.room for a in answers if a.room}
            statuses = Counter(a.status for a in answers)
            odd = [a for a in answers if a.status not in (201, 409)]
            assert not odd, f"answers other than 201/409: {dict(statuses)}; e.g. {odd[:3]}"
            winners = [a.room for a in answers if a.status == 201]
            assert len(winners) == 1, f"{len(winners)} sessions created for one agent: {winners}"
            rooms = await agent_rooms(lk, settings, agent_id)
            made |= set(rooms)
            assert rooms == winners, f"rooms of the agent after the race: {rooms}; created: {winners}"
            named = Counter(a.room for a in answers if a.status == 409)
            assert set(named) <= set(winners), f"409s naming other rooms than {winners[0]}: {dict(named)}"

            room = winners[0]
            agents = await poll(lambda: agents_in(lk, settings, room), JOIN_TIMEOUT, "the dispatched agent to join")
            assert len(agents) == 1, f"{len(agents)} agents in {room}: {agents}"
            strays = await stray_rooms(lk, settings, agent_id, before)
            made |= set(strays)
            assert strays == [room], f"session rooms once the agent joined: {strays} (only {room} should be)"

            async def exactly_one_agent() -> list[str] | bool:
                found = await agents_in(lk, settings, room)
                return found if len(found) == 1 else False

            # A late duplicate (a second dispatch, a re-dispatch) joins seconds after the first: hold the check.
            await holds(exactly_one_agent, HOLD_ONE_AGENT_S, f"exactly one agent in {room}")
            opened = rooms_opened(settings, offset)
            return (
                f"{len(answers)} requests in {elapsed:.1f} s: {statuses[201]} created, {statuses[409]} conflicts;"
                f" rooms opened {opened}, closed again by the race rule {max(0, opened - 1)}; 1 agent joined"
            )
        finally:
            made |= set(await stray_rooms(lk, settings, agent_id, before))
            for name in made:
                await delete_room(lk, name)


def test_racing_session_requests_make_one_session(stack: Settings, chaos_figure: Callable[[str], None]) -> None:
    """100 racing session requests for one agent"""
    sources = addresses(FIRST_SOURCE, REQUESTS)
    assert_web_sees(stack, [sources[0], sources[-1]])
    # An assistant of its own: no other test's or person's session can make this one's answers 409s.
    letta = letta_client(stack, timeout=60)
    agent = create_voice_agent(letta, stack, f"chaos-race-{uuid.uuid4().hex[:8]}", "I am brief.", "A tester.")
    try:
        figure = asyncio.run(race(stack, agent.id, sources))
    except AssertionError as error:
        pytest.fail(f"{error}\n--- web log ---\n{log_tail(stack, 'web', 20)}")
    finally:
        letta.agents.delete(agent.id)
    chaos_figure(figure)
