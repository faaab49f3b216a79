"""Nobody waits alone: 10 sessions started at once through the web API, 5 times; every room gets our agent.

Each session has its own assistant and its own client address (the web service limits sessions per agent and
per address), and a person joins each room as the page would. The stack under test runs AGENT_WORKERS=2 with
AGENT_MAX_JOBS=6 (scripts/test.sh): 12 job slots for the 10 rooms.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack

import pytest
from livekit import api, rtc

from services.agent.probe import delete_room, our_agents
from services.shared.letta import letta_client
from services.shared.letta_agents import create_voice_agent
from services.shared.livekit import livekit_api
from services.shared.settings import Settings
from tests.chaos.loopback import addresses, client
from tests.helpers import log_tail, running_jobs

pytestmark = [pytest.mark.stack, pytest.mark.chaos]
SESSIONS = 10
ROUNDS = 5
FIRST_SOURCE = "127.0.1.2"  # 127.0.1.2 ... 127.0.1.11: apart from the other chaos tests' addresses
JOIN_TIMEOUT = 60.0  # functional deadline (the dispatch speed goal is in make bench)


@pytest.fixture
def assistants(stack: Settings) -> Iterator[list[str]]:
    capacity = stack.agent.workers * stack.agent.max_jobs
    assert capacity >= SESSIONS, f"{capacity} job slots for {SESSIONS} rooms: scripts/test.sh sets 2 workers x 6"
    letta = letta_client(stack, timeout=60)
    made = [
        create_voice_agent(letta, stack, f"chaos-burst-{i}-{uuid.uuid4().hex[:6]}", "I am brief.", "A tester.").id
        for i in range(SESSIONS)
    ]
    yield made
    for agent_id in made:
        letta.agents.delete(agent_id)


async def start_sessions(settings: Settings, agent_ids: list[str], sources: list[str]) -> list[dict[str, str]]:
    """POST /api/sessions for every assistant at once, each from its own address; all must be created."""
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(client(settings, a)) for a in sources]
        answers = await asyncio.gather(
            *(c.post("/api/sessions", json={"agent_id": a}) for c, a in zip(clients, agent_ids, strict=True))
        )
    bad = [(r.status_code, r.text[:120]) for r in answers if r.status_code != 201]
    assert not bad, f"sessions not created: {bad}"
    return [r.json() for r in answers]


async def one_round(settings: Settings, lk: api.LiveKitAPI, agent_ids: list[str], sources: list[str]) -> list[float]:
    """Start the sessions, join a person to each, wait for every agent; seconds from the click to each agent."""
    clicked = time.monotonic()
    sessions = await start_sessions(settings, agent_ids, sources)
    people = [rtc.Room() for _ in sessions]
    try:
        await asyncio.gather(*(p.connect(s["url"], s["token"]) for p, s in zip(people, sessions, strict=True)))
        joined: dict[str, float] = {}
        while len(joined) < len(sessions) and time.monotonic() - clicked < JOIN_TIMEOUT:
            for s in sessions:
                if s["room"] not in joined and await our_agents(lk, settings, s["room"]):
                    joined[s["room"]] = time.monotonic() - clicked
            await asyncio.sleep(0.1)
        lost = [s["room"] for s in sessions if s["room"] not in joined]
        assert not lost, f"{len(lost)} of {len(sessions)} rooms got no agent within {JOIN_TIMEOUT:.0f}s: {lost}"
        return sorted(joined.values())
    finally:
        await asyncio.gather(*(p.disconnect() for p in people), return_exceptions=True)
        for s in sessions:
            await delete_room(lk, s["room"])


async def workers_idle(settings: Settings, lk: api.LiveKitAPI, rooms_before: set[str]) -> None:
    """Wait until the round's rooms are gone and their jobs have ended, so each round starts with free slots."""
    deadline = time.monotonic() + JOIN_TIMEOUT
    while time.monotonic() < deadline:
        listed = await lk.room.list_rooms(api.ListRoomsRequest())
        if not {r.name for r in listed.rooms} - rooms_before and running_jobs(settings) == 0:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"the previous round's rooms or jobs are still there ({running_jobs(settings)} jobs)")


async def burst(settings: Settings, agent_ids: list[str]) -> list[float]:
    sources = addresses(FIRST_SOURCE, SESSIONS)
    times: list[float] = []
    async with livekit_api(settings) as lk:
        before = {r.name for r in (await lk.room.list_rooms(api.ListRoomsRequest())).rooms}
        for _ in range(ROUNDS):
            times += await one_round(settings, lk, agent_ids, sources)
            await workers_idle(settings, lk, before)
    return times


def test_ten_sessions_at_once_every_room_gets_an_agent(
    stack: Settings, assistants: list[str], chaos_figure: Callable[[str], None]
) -> None:
    """10 sessions started at once, 5 times"""
    try:
        times = asyncio.run(burst(stack, assistants))
    except AssertionError as error:
        tails = "\n".join(f"--- {n} ---\n{log_tail(stack, n, 12)}" for n in ("agent", "agent-2", "recovery"))
        raise AssertionError(f"{error}\n{tails}") from None
    assert len(times) == SESSIONS * ROUNDS
    q = statistics.quantiles(times, n=100, method="inclusive")
    chaos_figure(
        f"{len(times)} sessions in {ROUNDS} bursts of {SESSIONS}: 0 lost; click -> agent joined p50 {q[49]:.1f} s,"
        f" p99 {q[98]:.1f} s, max {max(times):.1f} s ({stack.agent.workers} workers x {stack.agent.max_jobs} jobs)"
    )
