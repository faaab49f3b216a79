"""Dispatch latency at 1, 5 and 10 concurrent starts, two ways.

- The dispatch itself: explicit dispatch created -> our agent joins the room, seen by a human already in it.
- As the person meets it: a session through the web API (POST /api/sessions, which dispatches before it answers),
  the person connects with its token -> our agent is in the room (0 when it was there as the person joined).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

import httpx
from livekit import api, rtc

from services.agent.probe import default_agent_id, dispatch, human_token
from services.shared.livekit import livekit_api, room_metadata
from services.shared.settings import Settings
from tests.bench.fresh_agents import fresh_letta_agents
from tests.bench.report import Goal, Section, percentile, summary_ms
from tests.chaos.loopback import addresses, client

# (rooms, at a time): one by one, 5 and 10 concurrent starts (10 needs AGENT_WORKERS x AGENT_MAX_JOBS >= 10)
RUNS = ((20, 1), (50, 5), (50, 10))
JOIN_TIMEOUT_S = 30.0
# Web sessions: one client address per concurrent slot (the web service limits session requests per address),
# apart from the tests' addresses (tests/chaos: 127.0.1.x).
WEB_FIRST_SOURCE = "127.0.2.2"


async def one_dispatch(lk: api.LiveKitAPI, settings: Settings, letta_id: str) -> float:
    """Seconds from create_dispatch to the agent's ParticipantConnected in the human's room."""
    name = f"{settings.recovery.room_prefix}bench-{uuid.uuid4().hex[:10]}"
    await lk.room.create_room(api.CreateRoomRequest(name=name, metadata=room_metadata(letta_id)))
    room = rtc.Room()
    joined = asyncio.Event()

    def on_join(p: rtc.RemoteParticipant) -> None:
        if p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT:
            joined.set()

    room.on("participant_connected", on_join)
    try:
        await room.connect(settings.livekit.url, human_token(settings, name, f"bench-{uuid.uuid4().hex[:6]}"))
        started = time.perf_counter()
        await dispatch(lk, settings, name, letta_id)
        await asyncio.wait_for(joined.wait(), JOIN_TIMEOUT_S)
        return time.perf_counter() - started
    finally:
        await room.disconnect()
        await lk.room.delete_room(api.DeleteRoomRequest(room=name))


async def _run(settings: Settings, rooms: int, concurrency: int) -> tuple[list[float], int]:
    letta_id = default_agent_id(settings)
    gate = asyncio.Semaphore(concurrency)
    async with livekit_api(settings) as lk:

        async def guarded() -> float | None:
            async with gate:
                try:
                    return await one_dispatch(lk, settings, letta_id)
                except TimeoutError:
                    return None

        results = await asyncio.gather(*(guarded() for _ in range(rooms)))
    ok = [r for r in results if r is not None]
    return ok, len(results) - len(ok)


@dataclass
class SessionStart:
    """One session through the web API, as the person meets it (seconds)."""

    person_waited: float  # connected -> agent in the room (0: it was there as the person joined)
    from_request: float  # POST /api/sessions sent -> agent in the room


def _is_agent(p: rtc.RemoteParticipant) -> bool:
    return p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT


async def one_web_session(web: httpx.AsyncClient, letta_id: str) -> SessionStart:
    """Create a session for ``letta_id`` as the page does, join it with its token, wait for our agent; end it."""
    requested = time.perf_counter()
    answer = await web.post("/api/sessions", json={"agent_id": letta_id, "takeover": True})
    if answer.status_code != 201:
        raise RuntimeError(f"POST /api/sessions answered {answer.status_code}: {answer.text[:160]}")
    session = answer.json()
    room, arrivals = rtc.Room(), asyncio.Queue[float]()

    def on_join(p: rtc.RemoteParticipant) -> None:
        if _is_agent(p):
            arrivals.put_nowait(time.perf_counter())

    room.on("participant_connected", on_join)
    try:
        await room.connect(session["url"], session["token"])
        connected = time.perf_counter()
        if any(_is_agent(p) for p in room.remote_participants.values()):
            arrived = connected
        else:
            arrived = await asyncio.wait_for(arrivals.get(), JOIN_TIMEOUT_S)
        return SessionStart(max(0.0, arrived - connected), arrived - requested)
    finally:
        await room.disconnect()
        await web.delete(f"/api/sessions/{session['room']}")


async def _run_web(settings: Settings, letta_ids: list[str], rooms: int) -> tuple[list[SessionStart], int]:
    """``rooms`` sessions, len(letta_ids) at a time (each slot with its own assistant), every session from a
    client address of its own: the web service allows WEB_SESSIONS_PER_MINUTE per address."""
    concurrency = len(letta_ids)
    sources = iter(addresses(WEB_FIRST_SOURCE, rooms))
    results: list[SessionStart | None] = []

    async def slot(i: int, count: int) -> None:
        for _ in range(count):
            async with client(settings, next(sources)) as web:
                try:
                    results.append(await one_web_session(web, letta_ids[i]))
                except TimeoutError:
                    results.append(None)

    await asyncio.gather(*(slot(i, rooms // concurrency + (i < rooms % concurrency)) for i in range(concurrency)))
    ok = [r for r in results if r is not None]
    return ok, len(results) - len(ok)


def web_sessions(settings: Settings, rooms: int, concurrency: int) -> tuple[list[SessionStart], int]:
    """One run with fresh assistants (deleted after)."""
    with fresh_letta_agents(settings, concurrency, "dispatch") as letta_ids:
        return asyncio.run(_run_web(settings, letta_ids, rooms))


def add_web_rows(section: Section, label: str, starts: list[SessionStart], failed: int) -> None:
    """The person's wait (the issue's goal), the wait from the request, and the rooms left without an agent."""
    if starts:
        waited = [s.person_waited for s in starts]
        section.add(f"{label}: person joined -> agent in the room", summary_ms(waited))
        section.add(f"{label}: session requested -> agent", summary_ms([s.from_request for s in starts]))
        there = sum(w == 0 for w in waited)
        section.add(f"{label}: agent already there as the person joined", f"{there} of {len(starts)}")
        p50, p99 = percentile(waited, 50) * 1000, percentile(waited, 99) * 1000
        section.add(f"{label}: person joined -> agent, p50", f"{p50:.0f} ms", "<= 100 ms", p50 <= 100)
        section.add(f"{label}: person joined -> agent, p99", f"{p99:.0f} ms", "<= 300 ms", p99 <= 300)
    section.add(f"{label}: rooms without an agent after 30 s", str(failed), "0", failed == 0)


def bench_dispatch(settings: Settings) -> Section:
    slots = settings.agent.workers * settings.agent.max_jobs
    section = Section(f"Dispatch latency ({settings.agent.workers} workers x {settings.agent.max_jobs} jobs)")
    for rooms, concurrency in RUNS:
        if concurrency > slots:
            section.notes.append(f"{concurrency} at a time not run: {slots} job slots (raise AGENT_WORKERS)")
            continue
        latencies, failed = asyncio.run(_run(settings, rooms, concurrency))
        label = f"{rooms} rooms, {concurrency} at a time"
        if latencies:
            section.add(f"{label}: create_dispatch -> agent joined (seen by the human)", summary_ms(latencies))
            section.add_samples(
                f"dispatch at {concurrency}: create_dispatch → agent joined", latencies, (Goal(0.1, 50), Goal(0.3, 99))
            )
            p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
            section.add(f"{label}: p50", f"{p50:.0f} ms", "<= 100 ms", p50 <= 100)
            section.add(f"{label}: p99", f"{p99:.0f} ms", "<= 300 ms", p99 <= 300)
        section.add(f"{label}: rooms without an agent after 30 s", str(failed), "0", failed == 0)
    if settings.auth_required:  # the per-user session limit would cut the runs short
        section.notes.append("web sessions not run: this stack asks for a login (bench the loopback stack)")
        return section
    for rooms, concurrency in RUNS:
        if concurrency <= slots:
            add_web_rows(
                section, f"{rooms} web sessions, {concurrency} at a time", *web_sessions(settings, rooms, concurrency)
            )
    section.notes.append(
        "web sessions: POST /api/sessions creates the room and dispatches our agent before it answers, so the "
        "agent's join overlaps the person's own connection; the create_dispatch rows are the dispatch itself"
    )
    return section
