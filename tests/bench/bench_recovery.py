"""Recovery benchmarks against the running native stack; prints markdown lines for docs/benchmarks.md.

    .stack/venv/bin/python -m tests.bench.bench_recovery [--rooms 1000] [--no-heal]

1. One sweep (dry run) over N rooms created through the server API (ours: prefix + marker, empty).
2. Time to heal an orphaned room after the agent worker is SIGKILLed and restarted by supervisord
   (kills the stack's agent worker: skip with --no-heal).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
import warnings

from livekit import api

from services.recovery.sweeper import Sweeper
from services.shared.livekit import livekit_api
from services.shared.rtc_exit import exit_process
from services.shared.settings import Settings, get_settings
from tests.bench.report import Section

CREATE_CONCURRENCY = 32


async def sweep_bench(settings: Settings, rooms: int, repeats: int = 3) -> list[float]:
    """Seconds of `repeats` dry-run sweeps over `rooms` rooms of ours (created, then deleted)."""
    prefix = f"lvsbench-{uuid.uuid4().hex[:6]}-"
    bench = settings.model_copy(update={"recovery": settings.recovery.model_copy(update={"room_prefix": prefix})})
    names = [f"{prefix}{i:05d}" for i in range(rooms)]
    gate = asyncio.Semaphore(CREATE_CONCURRENCY)
    async with livekit_api(bench) as lk:

        async def create(name: str) -> None:
            async with gate:
                await lk.room.create_room(api.CreateRoomRequest(name=name, metadata='{"lvs": true}'))

        async def delete(name: str) -> None:
            async with gate:
                await lk.room.delete_room(api.DeleteRoomRequest(room=name))

        started = time.monotonic()
        await asyncio.gather(*(create(n) for n in names))
        print(f"<!-- created {rooms} rooms in {time.monotonic() - started:.1f}s -->", flush=True)
        try:
            times = []
            for _ in range(repeats):
                sweeper = Sweeper(bench, lk, dry_run=True)
                try:
                    result = await sweeper.sweep()
                finally:
                    await sweeper.close()
                ours = sum(1 for r in result.snapshot.rooms if r.name.startswith(prefix))
                assert ours == rooms, f"the sweep saw {ours} of {rooms} rooms"
                times.append(result.seconds)
            return times
        finally:
            await asyncio.gather(*(delete(n) for n in names), return_exceptions=True)


def bench_recovery(settings: Settings, rooms: int = 1000, heal: bool = True) -> Section:
    """Sweep time over `rooms` rooms, and time to heal an orphaned room after a worker kill (when `heal`)."""
    warnings.filterwarnings("ignore", message="The HMAC key is")
    section = Section("Recovery sidecar")
    times = asyncio.run(sweep_bench(settings, rooms)) if rooms > 0 else []
    if times:
        section.add(
            f"one sweep over {rooms:,} rooms (dry run; list_rooms + list_participants per room of ours)",
            f"{statistics.median(times) * 1000:.0f} ms median of {len(times)} "
            f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f})",
        )
        section.add_samples(f"recovery: dry-run sweep over {rooms:,} rooms", times)
    if heal:
        from tests.chaos.worker_kill import kill_serving_worker

        result = asyncio.run(kill_serving_worker(settings))
        standby = settings.agent.workers >= 2
        goal_from = result.worker_registered if not standby and result.worker_registered else 0.0
        figure = result.voice_heard - goal_from
        section.add(
            "kill -9 of the serving worker -> the person hears a new agent"
            + (" (a second worker running)" if standby else ", from the worker being back"),
            f"{figure:.1f} s",
            "<= 5 s",
            figure <= 5.0,
        )
        section.notes.append(
            f"AGENT_WORKERS={settings.agent.workers}; killed {result.killed}: the dead agent was removed"
            f" {result.dead_agent_gone:.1f} s, a new one joined {result.new_agent_joined:.1f} s and was heard"
            f" {result.voice_heard:.1f} s after the kill"
            + (f"; the worker was registered again {result.worker_registered:.1f} s after it" if not standby else "")
        )
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rooms", type=int, default=1000, help="rooms for the sweep timing (0: skip it)")
    parser.add_argument("--no-heal", action="store_true", help="skip the worker-kill heal measurement")
    args = parser.parse_args()
    print(bench_recovery(get_settings(), args.rooms, not args.no_heal).markdown())


if __name__ == "__main__":
    main()
    exit_process(0)
