"""Benchmarks of the running stack's voice agent (measurements, not tests).

    python -m services.agent.bench dispatch --rooms 50   # create_dispatch -> agent in the room
    python -m services.agent.bench voice --turns 20      # end of the caller's speech -> first agent audio

Prints one JSON object per benchmark (with p50/p95/p99, date and machine) and a Markdown table row.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from services.agent.probe import (
    Human,
    create_room,
    default_agent_id,
    delete_room,
    dispatch,
    espeak_wav,
    new_room_name,
    our_agents,
    poll,
    until,
)
from services.shared.livekit import livekit_api
from services.shared.settings import Settings, get_settings

STAGES = ("eou", "stt", "llm_ttft", "tts_ttfb", "total")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(name: str, seconds: list[float], **extra: object) -> dict[str, object]:
    return {
        "benchmark": name,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
        "n": len(seconds),
        "p50_ms": round(percentile(seconds, 50) * 1000),
        "p95_ms": round(percentile(seconds, 95) * 1000),
        "p99_ms": round(percentile(seconds, 99) * 1000),
        "mean_ms": round(statistics.fmean(seconds) * 1000),
        "max_ms": round(max(seconds) * 1000),
        **extra,
    }


async def bench_dispatch(settings: Settings, rooms: int) -> dict[str, object]:
    """Per room, with a caller in it: create_dispatch -> our agent listed by the server (polled every
    20 ms) and -> the caller's participant_connected event."""
    letta_id = default_agent_id(settings)
    server_side: list[float] = []
    caller_side: list[float] = []
    async with livekit_api(settings) as lk:
        for _ in range(rooms):
            room = new_room_name(settings)
            human = Human(settings, room)
            await create_room(lk, room, letta_id)
            try:
                await human.join()
                joined: asyncio.Future[float] = asyncio.get_running_loop().create_future()

                def on_join(p, fut=joined) -> None:
                    if p.identity.startswith(settings.agent.identity_prefix) and not fut.done():
                        fut.set_result(time.monotonic())

                human.room.on("participant_connected", on_join)
                start = time.monotonic()
                await dispatch(lk, settings, room, letta_id)

                async def listed(r: str = room) -> bool:
                    return bool(await our_agents(lk, settings, r))

                await poll(listed, 30, "the agent in the room", interval=0.02)
                server_side.append(time.monotonic() - start)
                caller_side.append(await asyncio.wait_for(joined, 30) - start)
            finally:
                await human.leave()
                await delete_room(lk, room)
    return summary(
        "dispatch latency (create_dispatch -> agent listed in the room)",
        server_side,
        caller_sees_agent=summary("caller sees the agent", caller_side),
    )


def _stage_sums(settings: Settings) -> dict[str, tuple[float, float]]:
    text = httpx.get(f"http://127.0.0.1:{settings.agent.metrics_port}/metrics", timeout=5).text
    out: dict[str, tuple[float, float]] = {}
    for stage in STAGES:
        total = count = 0.0
        for line in text.splitlines():
            if line.startswith(f'lvs_agent_turn_stage_seconds_sum{{stage="{stage}"}}'):
                total += float(line.rsplit(" ", 1)[1])
            if line.startswith(f'lvs_agent_turn_stage_seconds_count{{stage="{stage}"}}'):
                count += float(line.rsplit(" ", 1)[1])
        out[stage] = (total, count)
    return out


async def bench_voice(settings: Settings, turns: int, sentence: str) -> dict[str, object]:
    """Turns in one room: end of the caller's speech -> first audible agent audio."""
    letta_id = default_agent_id(settings)
    before = _stage_sums(settings)
    samples: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        speech = espeak_wav(sentence, Path(tmp) / "turn.wav")
    room = new_room_name(settings)
    human = Human(settings, room)
    async with livekit_api(settings) as lk:
        await create_room(lk, room, letta_id)
        try:
            await human.join()
            await dispatch(lk, settings, room, letta_id)
            await until(lambda: human.agent() is not None, 30, "the agent to join")
            await until(lambda: human.loud_frames > 0, 30, "the greeting")
            for _ in range(turns):
                await until(lambda: human.agent_state() == "listening", 120, "the agent to listen")
                mark = human.speech_ended_at
                human.say_pcm(speech)
                await until(lambda m=mark: human.speech_ended_at != m, 30, "the speech to be sent")
                ended = human.speech_ended_at
                assert ended is not None
                first = await until(lambda e=ended: human.first_loud_after(e), 60, "the agent's answer")
                samples.append(first - ended)
        finally:
            await human.leave()
            await delete_room(lk, room)
    after = _stage_sums(settings)
    stages = {}
    for stage in STAGES:
        total = after[stage][0] - before[stage][0]
        count = after[stage][1] - before[stage][1]
        if count:
            stages[f"{stage}_mean_ms"] = round(total / count * 1000)
    return summary("voice-to-voice latency (end of speech -> first agent audio)", samples, server_stages=stages)


def markdown_row(result: dict[str, object]) -> str:
    return (
        f"| {result['benchmark']} | {result['n']} | {result['p50_ms']} | {result['p95_ms']} | "
        f"{result['p99_ms']} | {result['date']} | {result['machine']} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.agent.bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("dispatch").add_argument("--rooms", type=int, default=50)
    voice = sub.add_parser("voice")
    voice.add_argument("--turns", type=int, default=20)
    voice.add_argument("--sentence", default="hello, how are you today")
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.command == "dispatch":
        result = asyncio.run(bench_dispatch(settings, args.rooms))
    else:
        result = asyncio.run(bench_voice(settings, args.turns, args.sentence))
    print(json.dumps(result))
    print(markdown_row(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
