"""Dispatch latency at 1, 5 and 10 concurrent starts: explicit dispatch created -> our agent joins the room,
seen by a human already in it."""

from __future__ import annotations

import asyncio
import time
import uuid

from livekit import api, rtc

from services.agent.probe import default_agent_id, dispatch, human_token
from services.shared.livekit import livekit_api, room_metadata
from services.shared.settings import Settings
from tests.bench.report import Goal, Section, percentile, summary_ms

# (rooms, at a time): one by one, 5 and 10 concurrent starts (10 needs AGENT_WORKERS x AGENT_MAX_JOBS >= 10)
RUNS = ((20, 1), (50, 5), (50, 10))
JOIN_TIMEOUT_S = 30.0


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
    return section
