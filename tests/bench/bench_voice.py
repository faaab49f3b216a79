"""Offline voice-to-voice latency: end of the caller's speech -> first audible agent audio, over N turns.

Also reads the worker's per-stage histograms (/metrics) to split the time into end-of-utterance, STT,
Letta's first token and TTS first byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from pathlib import Path

from services.agent.probe import (
    Human,
    espeak_wav,
    human_with_agent,
    until,
)
from services.shared.prompt_warmup import warm_prompt
from services.shared.settings import Settings
from tests.bench.fresh_agents import fresh_letta_agents
from tests.bench.report import Goal, Section, percentile, summary_ms
from tests.helpers import worker_metrics_text

STAGES = ("eou", "stt", "llm_ttft", "tts_ttfb", "total")
TURNS = 20
SENTENCE = "hello, how are you today"


async def greeted(human: Human, timeout: float = 30) -> None:
    """Wait until the agent is in the human's room and its greeting has been heard."""
    await until(lambda: human.agent() is not None, timeout, "the agent to join")
    await until(lambda: human.loud_frames > 0, timeout, "the greeting")


async def one_turn(human: Human, speech: bytes, answer_timeout: float = 60) -> float:
    """Speak once the agent listens; seconds from the end of the speech to the first audible agent audio."""
    await until(lambda: human.agent_state() == "listening", 120, "the agent to listen")
    mark = human.speech_ended_at
    human.say_pcm(speech)
    await until(lambda: human.speech_ended_at != mark, 30, "the speech to be sent")
    ended = human.speech_ended_at
    assert ended is not None
    first = await until(lambda: human.first_loud_after(ended), answer_timeout, "the agent's answer")
    return first - ended


def stage_sums(settings: Settings) -> dict[str, tuple[float, float]]:
    """(sum of seconds, count) of each stage's histogram, over every worker."""
    text = worker_metrics_text(settings)  # every worker: the session may run on any
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


def stage_means(before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]) -> dict[str, float]:
    """Mean seconds of each stage over the turns between two reads of stage_sums (stages without turns left out)."""
    means = {}
    for stage, (total, count) in after.items():
        turns = count - before.get(stage, (0.0, 0.0))[1]
        if turns > 0:
            means[stage] = (total - before.get(stage, (0.0, 0.0))[0]) / turns
    return means


async def _voice_turns(
    settings: Settings, turns: int, sentence: str, letta_id: str | None = None
) -> tuple[list[float], dict[str, int]]:
    """Turns in one room: end of the caller's speech -> first audible agent audio.

    Through a fresh Letta agent unless ``letta_id`` names one (e.g. the default agent, to see what a long
    history costs)."""
    samples: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        speech = espeak_wav(sentence, Path(tmp) / "turn.wav")
    with contextlib.ExitStack() as agents:
        if letta_id is None:
            (letta_id,) = agents.enter_context(fresh_letta_agents(settings, 1, "voice"))
        # Read once, as the default agent's prompt is at `make up`: the turns measure a conversation, not the
        # first reading of a new agent's prompt.
        await asyncio.to_thread(warm_prompt, settings, letta_id)
        before = stage_sums(settings)
        async with human_with_agent(settings, letta_id) as (_lk, human):
            await greeted(human)
            for _ in range(turns):
                samples.append(await one_turn(human, speech))
    means = stage_means(before, stage_sums(settings))
    return samples, {f"{stage}_mean_ms": round(mean * 1000) for stage, mean in means.items()}


def bench_voice(settings: Settings, turns: int = TURNS) -> Section:
    samples, stages = asyncio.run(_voice_turns(settings, turns, SENTENCE))
    section = Section(f"Offline voice-to-voice latency ({len(samples)} turns, one room)")
    section.add("end of speech -> first agent audio", summary_ms(samples))
    section.add_samples("voice: end of speech → first agent audio", samples, (Goal(1.2, 50),))
    p50 = percentile(samples, 50) * 1000
    section.add("p50", f"{p50:.0f} ms", "<= 1200 ms", p50 <= 1200)
    p95 = percentile(samples, 95) * 1000
    section.add("p95", f"{p95:.0f} ms", "<= 2000 ms", p95 <= 2000)
    if stages:
        means = ", ".join(f"{k.removesuffix('_mean_ms')} {v} ms" for k, v in stages.items())
        section.notes.append(f"worker stage means: {means}")
    plan = settings.agent
    section.notes.append(f"models: STT {plan.stt.value}, TTS {plan.tts.value}, LLM {settings.llm.model_name}")
    section.notes.append("a new Letta agent made like the default one (no history), its prompt read once before")
    return section
