"""Letta's own overhead per turn, apart from the model: N turns one at a time through Letta's streaming chat
completions, called exactly as the worker calls it (services/agent/brain.letta_llm, only the newest user message).

Per turn the client sees Letta's time to first token and the end of the stream; llama.cpp's log (`print_timing`,
written once per request) says how long the model spent on that request: prompt evaluation and token generation.
Turns run one at a time and each must add exactly one llama.cpp request to the log, so the lines are matched by
the log offset before and after the turn (a turn with another count, e.g. a compaction calling the model, is
reported and left out). Letta's own share of the first token is the client's TTFT minus the model's (its prompt
evaluation: llama.cpp samples the first token from it); after the first token, Letta's work is the rest of the
stream minus the model's remaining generation (mostly what Letta does after the last token: saving the step).
Letta's and PostgreSQL's CPU seconds per turn come from their process trees. Offline model only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import statistics
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil
from livekit.agents import llm

from services.agent.brain import last_user_turn, letta_llm
from services.shared.letta import letta_client
from services.shared.letta_agents import create_voice_agent
from services.shared.prompt_warmup import try_warm_prompt
from services.shared.settings import Settings
from services.stack.supervisor import Supervisor
from tests.bench.report import Section, percentile
from tests.helpers import eventually

TURNS = 20
# Short questions the offline model answers in one sentence, as the worker receives them from STT.
QUESTIONS = (
    "What is the capital of France?",
    "My name is Ada.",
    "What is two plus two?",
    "What colour is the sky?",
    "What is my name?",
    "How many days are in a week?",
)
TIMING = re.compile(
    r"print_timing: .*?task (?P<task>\d+) \| +(?P<kind>prompt eval|eval) time = +(?P<ms>[\d.]+) ms / +(?P<n>\d+) tokens"
)


@dataclass(frozen=True)
class ModelTiming:
    """One llama.cpp request as its log reports it (print_timing)."""

    task: int
    prompt_ms: float
    prompt_tokens: int
    eval_ms: float
    eval_tokens: int

    @property
    def first_token_s(self) -> float:
        """The model's time to its first token: llama.cpp samples it from the prompt's last logits, so its time is
        the prompt evaluation of the new tokens (the eval time covers the decodes after it)."""
        return self.prompt_ms / 1000

    @property
    def total_s(self) -> float:
        return (self.prompt_ms + self.eval_ms) / 1000


def parse_timings(text: str) -> list[ModelTiming]:
    """Every complete request (a prompt eval and an eval line of the same task) in llama.cpp log text, in order."""
    seen: dict[int, dict[str, tuple[float, int]]] = {}
    order: list[int] = []
    for m in TIMING.finditer(text):
        task = int(m["task"])
        if task not in seen:
            seen[task] = {}
            order.append(task)
        seen[task][m["kind"]] = (float(m["ms"]), int(m["n"]))
    out = []
    for task in order:
        parts = seen[task]
        if "prompt eval" in parts and "eval" in parts:
            (p_ms, p_n), (e_ms, e_n) = parts["prompt eval"], parts["eval"]
            out.append(ModelTiming(task, p_ms, p_n, e_ms, e_n))
    return out


@dataclass(frozen=True)
class Turn:
    """One turn as the client saw it, with the model's request matched from the log (None: not matched)."""

    ttft_s: float
    stream_s: float
    model: ModelTiming | None
    letta_cpu_s: float
    postgres_cpu_s: float

    @property
    def letta_first_s(self) -> float:
        """Letta's own share of the time to first token."""
        assert self.model is not None
        return self.ttft_s - self.model.first_token_s

    @property
    def letta_after_s(self) -> float:
        """Letta's work after the first token that is not the model generating (mostly after the last token)."""
        assert self.model is not None
        return (self.stream_s - self.ttft_s) - (self.model.total_s - self.model.first_token_s)


def tree_cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of a process and its children so far (0 when it is gone)."""
    if not pid:
        return 0.0
    total = 0.0
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                total += t.user + t.system
    return total


def log_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def read_from(path: Path, offset: int) -> str:
    with path.open("rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


async def stream_turn(model: llm.LLM, text: str) -> tuple[float, float, str]:
    """(time to first content, whole stream, reply) for one user message, as the worker sends it."""
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="user", content=text)
    started = time.monotonic()
    first: float | None = None
    reply = []
    async with model.chat(chat_ctx=last_user_turn(ctx)) as stream:
        async for chunk in stream:
            if chunk.delta and chunk.delta.content:
                first = first if first is not None else time.monotonic() - started
                reply.append(chunk.delta.content)
    total = time.monotonic() - started
    return (first if first is not None else total), total, "".join(reply)


async def run_turns(settings: Settings, agent_id: str, turns: int) -> tuple[list[Turn], list[str]]:
    """Turns one at a time; the matched turns and a note for each turn that could not be matched."""
    llm_log = settings.stack.log_dir / "llm.log"
    info = Supervisor(settings).info()
    letta_pid = info["letta"].pid if "letta" in info else None
    pg_pid = info["postgres"].pid if "postgres" in info else None
    model = letta_llm(settings, agent_id)
    out: list[Turn] = []
    unmatched: list[str] = []
    for i in range(turns):
        question = QUESTIONS[i % len(QUESTIONS)]
        offset, cpu0, pg0 = log_size(llm_log), tree_cpu_s(letta_pid), tree_cpu_s(pg_pid)
        ttft, total, reply = await stream_turn(model, question)
        cpu1, pg1 = tree_cpu_s(letta_pid), tree_cpu_s(pg_pid)
        # llama.cpp writes print_timing when the request ends, before Letta ends its stream; allow for buffering.
        try:
            timings = eventually(lambda o=offset: parse_timings(read_from(llm_log, o)), 10, what="llama.cpp's timing")
        except AssertionError:  # Letta never called the model (it failed first): the turn is reported unmatched
            timings = []
        matched = timings[0] if len(timings) == 1 and reply else None
        if matched is None:
            unmatched.append(f"turn {i + 1}: {len(timings)} model requests, reply {reply[:40]!r}")
        out.append(Turn(ttft, total, matched, cpu1 - cpu0, pg1 - pg0))
        print(
            f"  turn {i + 1}: ttft {ttft * 1000:.0f} ms, stream {total * 1000:.0f} ms"
            + (f", model first token {matched.first_token_s * 1000:.0f} ms" if matched else ", unmatched"),
            flush=True,
        )
    return out, unmatched


def p50_p95(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"p50 {percentile(ms, 50):.0f} ms, p95 {percentile(ms, 95):.0f} ms, mean {statistics.fmean(ms):.0f} ms"


def bench_letta(settings: Settings, turns: int = TURNS) -> Section:
    section = Section(f"Letta's own overhead per turn, apart from the model ({turns} turns, one at a time)")
    if not settings.llm.is_local:
        section.notes.append("skipped: the stack runs a cloud model (this bench reads the local llama.cpp log)")
        return section
    client = letta_client(settings, timeout=60.0)
    name = f"bench-letta-{uuid.uuid4().hex[:8]}"
    agent = create_voice_agent(client, settings, name, settings.letta.default_persona, settings.letta.default_human)
    load_before = os.getloadavg()
    try:
        print(f"  warming the prompt of {name}: {try_warm_prompt(settings, agent.id)}", flush=True)
        done, unmatched = asyncio.run(run_turns(settings, agent.id, turns))
    finally:
        client.agents.delete(agent.id)
    load_after = os.getloadavg()
    matched = [t for t in done if t.model is not None]
    section.add("Letta time to first token (client)", p50_p95([t.ttft_s for t in done]))
    section.add("whole stream (client)", p50_p95([t.stream_s for t in done]))
    if matched:
        models = [t.model for t in matched if t.model is not None]
        section.add("model first token (llama.cpp prompt eval)", p50_p95([m.first_token_s for m in models]))
        section.add("**Letta's own share of the first token**", p50_p95([t.letta_first_s for t in matched]))
        section.add("Letta after the first token, model excluded", p50_p95([t.letta_after_s for t in matched]))
        section.add("model whole request (llama.cpp)", p50_p95([m.total_s for m in models]))
        letta_cpu = statistics.fmean(t.letta_cpu_s for t in done)
        pg_cpu = statistics.fmean(t.postgres_cpu_s for t in done)
        section.add("CPU per turn: Letta, PostgreSQL", f"{letta_cpu:.2f} s, {pg_cpu:.2f} s")
        prompt = statistics.fmean(m.prompt_tokens for m in models)
        gen = statistics.fmean(m.eval_tokens for m in models)
        section.notes.append(f"model per turn: {prompt:.1f} new prompt tokens, {gen:.1f} generated tokens (means)")
    section.notes.append(f"{len(matched)} of {len(done)} turns matched to exactly one llama.cpp request")
    section.notes += unmatched
    section.notes.append(
        "load average (1/5/15 min) before "
        + "/".join(f"{v:.2f}" for v in load_before)
        + ", after "
        + "/".join(f"{v:.2f}" for v in load_after)
    )
    section.notes.append(f"model {settings.llm.model_name}; a fresh agent made like the voice agents, deleted after")
    section.add_samples("Letta: own share of the first token", [t.letta_first_s for t in matched])
    return section
