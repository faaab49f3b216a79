"""Capacity: how many concurrent voice sessions the worker serves while p95 turn latency stays under 2 s.

Ramps N = 1, 2, ... up to AGENT_MAX_JOBS (the worker refuses more rooms) and stops at the first step whose
p95 end of speech -> first agent audio passes 2 s, or where a session gets no answer. Each step samples the
agent worker's process tree (supervisord program `agent`) and the whole stack for CPU and resident memory.

Clients:
- `probe` (default): our own outside client. N synthetic callers (services.agent.probe.Human), each in a room
  of its own with a fresh Letta agent made like the default one (see fresh_letta_agents), each speaking an
  espeak-ng sentence up to TURNS times (no new turn after STEP_BUDGET_S: SmolLM2 replies run long).
- `lk` (`--client lk`; lk on PATH or in $STACK_CACHE_DIR/bin): LiveKit's `lk perf agent-load-test --rooms N
  --agent-name AGENT_NAME --echo-speech-delay 1s --duration STEP`, whose echo participant plays the agent's
  audio back to it. Latency then comes from the worker's own histogram (stage "total", bucket bounds).
  Its dispatches carry no metadata, so our worker cannot tell which Letta agent to use and takes its
  "assistant not found" path (speaks, leaves): on this stack lk loads the worker but makes no Letta turns.
  Not the default for that reason; lk is also not built on machines whose Go proxy refuses livekit-cli.

Alone (prints, appends nothing): .stack/venv/bin/python -m tests.bench.bench_capacity [--max-sessions N] [--turns N]
[--goal-s S] [--client lk]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.agent.probe import Human, espeak_wav, human_with_agent, until
from services.agent.server import program_name
from services.agent.voice import SORRY_EMPTY, SORRY_INTERRUPTED, SORRY_UNAVAILABLE
from services.shared.rtc_exit import exit_process
from services.shared.settings import Settings, get_settings
from services.stack.supervisor import Supervisor
from tests.bench.bench_voice import greeted, one_turn, stage_means, stage_sums
from tests.bench.fresh_agents import fresh_letta_agents
from tests.bench.report import Goal, Section, percentile
from tests.bench.sampler import TreeSampler, Usage
from tests.helpers import running_jobs, worker_metrics_text

P95_GOAL_S = 2.0
TURNS = 3
SENTENCES = ("hello, how are you today", "what is the weather like", "tell me something nice")
ANSWER_TIMEOUT_S = 30.0  # a turn without audible answer by then (or by the goal, if longer) is unanswered
STEP_BUDGET_S = 70.0  # no new turn starts after this (keeps a full ramp under ~8 minutes on 2 cores)
IDLE_SAMPLE_S = 3.0
LK_STEP_S = 45
# What the worker says when Letta gives no answer: audible, but not an answer.
APOLOGIES = frozenset({SORRY_UNAVAILABLE, SORRY_INTERRUPTED, SORRY_EMPTY})
AGENT_ONLY = frozenset({"agent"})  # PSS (shared pages split fairly) for the worker tree; RSS for the rest


@dataclass
class Step:
    """One ramp step: N concurrent sessions, their turn latencies and what the worker used meanwhile."""

    sessions: int
    planned_turns: int = TURNS  # per session
    goal: float = P95_GOAL_S
    latencies: list[float] = field(default_factory=list)
    unanswered: int = 0  # turns without audible answer, or answered with an apology (Letta failed)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    agent: Usage | None = None
    stack: Usage | None = None
    others: dict[str, Usage] = field(default_factory=dict)  # trees sampled beside the worker and the stack
    stages: dict[str, float] = field(default_factory=dict)  # the worker's mean seconds per turn stage in the step
    finish_slow: bool = False  # True: a step that missed the latency goal still plays all its turns
    arrival_s: float = 0.0  # session i joins i * arrival_s after the first (0: all at once, a burst)

    @property
    def p95(self) -> float | None:
        return percentile(self.latencies, 95) if self.latencies else None

    def failed(self) -> bool:
        """A turn went unanswered or a session failed."""
        return bool(self.unanswered or self.errors)

    def lost(self) -> bool:
        """True once the step can no longer meet the goal, so its sessions stop early (a slow step plays on when
        finish_slow is set)."""
        planned = self.sessions * self.planned_turns
        slow = sum(1 for x in self.latencies if x > self.goal)
        too_slow = not self.finish_slow and slow > planned - max(1, round(0.95 * planned))
        return self.failed() or too_slow

    @property
    def ok(self) -> bool:
        return not self.unanswered and not self.errors and self.p95 is not None and self.p95 <= self.goal


def find_lk(settings: Settings) -> Path | None:
    """The lk CLI: on PATH, or where scripts/install-livekit.sh puts it."""
    on_path = shutil.which("lk")
    cached = settings.stack.cache / "bin" / "lk"
    return Path(on_path) if on_path else (cached if os.access(cached, os.X_OK) else None)


def wait_worker_idle(settings: Settings, timeout: float = 30.0) -> bool:
    """True once the worker reports no load (the previous step's jobs have ended)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if running_jobs(settings) == 0:  # every worker's
                return True
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    return False


def _apologies(human: Human) -> int:
    return sum(1 for sender, text in human.transcripts if sender != human.identity and text.strip() in APOLOGIES)


async def _probe_session(settings: Settings, letta_id: str, speech: bytes, turns: int, step: Step) -> None:
    """One caller: join, hear the greeting, speak up to `turns` times within the step's budget; results in `step`."""
    deadline = time.monotonic() + STEP_BUDGET_S
    async with human_with_agent(settings, letta_id) as (_lk, human):
        await greeted(human)
        for _ in range(turns):
            try:  # the previous reply is spoken to the end (SmolLM2 talks long) within the budget
                await until(lambda: human.agent_state() == "listening", deadline - time.monotonic(), "listening")
            except AssertionError:
                break
            if step.lost() or _apologies(human):
                break
            try:
                step.latencies.append(await one_turn(human, speech, max(ANSWER_TIMEOUT_S, step.goal)))
            except AssertionError:
                step.unanswered += 1
                return
        with contextlib.suppress(AssertionError):  # the last reply's transcript arrives once it has been spoken
            await until(lambda: human.agent_state() == "listening", ANSWER_TIMEOUT_S, "the last reply to end")
        step.unanswered += _apologies(human)


async def _probe_step(settings: Settings, letta_ids: list[str], speeches: list[bytes], step: Step) -> None:
    async def guarded(i: int) -> None:
        await asyncio.sleep(i * step.arrival_s)  # the arrival schedule, not a wait for anything
        try:
            await _probe_session(settings, letta_ids[i], speeches[i % len(speeches)], step.planned_turns, step)
        except Exception as exc:  # a session that never got going (no agent, no greeting) has no answer
            step.errors.append(f"session {i + 1}: {exc}"[:200])

    await asyncio.gather(*(guarded(i) for i in range(step.sessions)))


def _total_buckets(settings: Settings) -> dict[float, float]:
    """Cumulative counts of the worker's 'total' turn-latency histogram, by upper bound (seconds)."""
    text = worker_metrics_text(settings)  # every worker: the session may run on any
    out: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("lvs_agent_turn_stage_seconds_bucket{") and 'stage="total"' in line:
            le = re.search(r'le="([^"]+)"', line)
            if le:
                bound = float(le.group(1))  # "+Inf" parses as inf
                out[bound] = out.get(bound, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def bucket_samples(before: dict[float, float], after: dict[float, float]) -> list[float]:
    """Turns observed between two reads of a cumulative histogram, one sample at each turn's bucket upper bound
    (the +Inf bucket's turns at the highest finite bound: a lower bound)."""
    delta = {bound: after[bound] - before.get(bound, 0.0) for bound in after}
    top = max((bound for bound in delta if bound != float("inf")), default=0.0)
    samples: list[float] = []
    previous = 0.0
    for bound in sorted(delta):
        samples += [min(bound, top)] * round(delta[bound] - previous)
        previous = delta[bound]
    return samples


def _lk_step(settings: Settings, lk: Path, step: Step) -> None:
    """Run lk perf agent-load-test for LK_STEP_S; turns and their bucketed latencies from the worker's metrics."""
    before = _total_buckets(settings)
    env = {
        **os.environ,
        "LIVEKIT_URL": settings.livekit.url,
        "LIVEKIT_API_KEY": settings.livekit.api_key,
        "LIVEKIT_API_SECRET": settings.livekit.api_secret.get_secret_value(),
    }
    cmd = [str(lk), "perf", "agent-load-test", "--rooms", str(step.sessions), "--agent-name", settings.agent.name]
    cmd += ["--echo-speech-delay", "1s", "--duration", f"{LK_STEP_S}s"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=LK_STEP_S + 60)
    if result.returncode != 0:
        step.errors.append(f"lk exited {result.returncode}: {result.stderr.strip()[-200:]}")
    step.latencies = bucket_samples(before, _total_buckets(settings))
    if len(step.latencies) < step.sessions:
        step.unanswered = step.sessions - len(step.latencies)


def run_step(settings: Settings, step: Step, client: str, roots: dict[str, list[int]]) -> Step:
    """Run one ramp step with the given client while sampling the process trees under `roots`."""
    with contextlib.ExitStack() as setup:
        if client == "lk":
            lk = find_lk(settings)
            assert lk is not None, "lk not found"
        else:  # Letta agents and speech made before sampling starts
            letta_ids = setup.enter_context(fresh_letta_agents(settings, step.sessions))
            tmp = Path(setup.enter_context(tempfile.TemporaryDirectory()))
            speeches = [espeak_wav(text, tmp / f"{i}.wav") for i, text in enumerate(SENTENCES)]
        before = _stage_sums_or_none(settings)
        started = time.monotonic()
        with TreeSampler(roots, pss=AGENT_ONLY) as sampler:
            if client == "lk":
                _lk_step(settings, lk, step)
            else:
                asyncio.run(_probe_step(settings, letta_ids, speeches, step))
        step.seconds = time.monotonic() - started
    step.agent, step.stack = sampler.usage("agent"), sampler.usage("stack")
    step.others = {name: sampler.usage(name) for name in roots if name not in ("agent", "stack")}
    after = _stage_sums_or_none(settings)
    step.stages = stage_means(before, after) if before is not None and after is not None else {}
    return step


def _stage_sums_or_none(settings: Settings) -> dict[str, tuple[float, float]] | None:
    try:
        return stage_sums(settings)
    except (httpx.HTTPError, ValueError):  # a worker's metrics port not answering: no stage figures
        return None


def answer_parts(step: Step) -> list[str]:
    """The start of a ramp step's row: its p95 over the turns, then what went unanswered or failed."""
    p95 = f"p95 {step.p95 * 1000:.0f} ms" if step.p95 is not None else "no answers"
    n = len(step.latencies)
    parts = [f"{p95} over {n} turn{'' if n == 1 else 's'}"]
    if step.unanswered:
        parts.append(f"{step.unanswered} unanswered")
    if step.errors:
        parts.append(f"{len(step.errors)} sessions failed")
    return parts


def _describe(step: Step, _idle: dict[str, Usage]) -> str:
    parts = answer_parts(step)
    assert step.agent and step.stack
    parts.append(f"agent CPU {step.agent.cpu_mean:.0f}%, PSS peak {step.agent.pss_peak or 0:.0f} MiB")
    parts.append(f"stack CPU {step.stack.cpu_mean:.0f}%")
    return "; ".join(parts) + f" ({step.seconds:.0f} s)"


@dataclass
class Ramp:
    """A ramp's steps (it stops after the first that misses the goal) and what each sampled tree used at idle."""

    steps: list[Step]
    idle: dict[str, Usage]

    @property
    def best(self) -> Step | None:
        """The largest step that met the goal, as did every step before it."""
        best = None
        for step in self.steps:
            if not step.ok:
                break
            best = step
        return best


def run_ramp(
    settings: Settings,
    section: Section,
    counts: list[int],
    turns: int,
    client: str,
    goal_s: float,
    extra_roots: dict[str, list[int]] | None = None,
    describe: Callable[[Step, dict[str, Usage]], str] = _describe,
    label: str = "capacity",
    past_goal: bool = False,
    arrival_s: float = 0.0,
) -> Ramp:
    """Steps of `counts` concurrent sessions in order until one misses goal_s (with `past_goal`: until a turn goes
    unanswered or a session fails); a row and a chart box per step. Sessions join `arrival_s` apart.

    The agent workers and the whole stack are sampled, and `extra_roots` (name -> pids) beside them."""
    extra = extra_roots or {}
    if not wait_worker_idle(settings):
        section.notes.append("others had sessions on the worker before the ramp: 'idle' includes their load")
    with TreeSampler({**process_roots(settings), **extra}, pss=AGENT_ONLY) as sampler:
        time.sleep(IDLE_SAMPLE_S)
    idle = {name: sampler.usage(name) for name in sampler.roots}
    steps: list[Step] = []
    for i, n in enumerate(counts):
        if i and not wait_worker_idle(settings):
            section.notes.append(f"the worker still had jobs (not ours) before step {n}")
        print(f"  step {i + 1}: {n} concurrent session(s)", flush=True)
        roots = {**process_roots(settings), **extra}
        step = run_step(settings, Step(n, turns, goal_s, finish_slow=past_goal, arrival_s=arrival_s), client, roots)
        if process_roots(settings)["agent"] != roots["agent"]:
            step.errors.append(f"the agent worker restarted during step {i + 1} (not by this bench)")
        steps.append(step)
        section.add(f"{n} concurrent session(s)", describe(step, idle), f"p95 <= {goal_s * 1000:.0f} ms", step.ok)
        section.add_samples(f"{label}: turns at {n} concurrent", step.latencies, (Goal(goal_s, 95),))
        section.notes += step.errors
        if step.failed() or (not step.ok and not past_goal):
            break
    return Ramp(steps, idle)


def bench_capacity(
    settings: Settings,
    max_sessions: int | None = None,
    turns: int = TURNS,
    client: str = "probe",
    goal_s: float = P95_GOAL_S,
) -> Section:
    """Ramp concurrent sessions until p95 turn latency passes goal_s; CPU and memory per session."""
    cap = max_sessions or settings.agent.max_jobs
    section = Section(f"Capacity: concurrent sessions with p95 turn latency <= {goal_s:g} s (1 to {cap})")
    ramp = run_ramp(settings, section, list(range(1, cap + 1)), turns, client, goal_s)
    idle_agent, idle_stack = ramp.idle["agent"], ramp.idle["stack"]
    section.add("maximum sessions under the goal", str(ramp.best.sessions if ramp.best else 0))
    section.add(*per_session_row(ramp.best or ramp.steps[-1], idle_agent, idle_stack))
    section.notes.append(
        f"idle: agent CPU {idle_agent.cpu_mean:.0f}%, PSS {idle_agent.pss_mean or 0:.0f} MiB (RSS "
        f"{idle_agent.rss_mean:.0f}); whole stack CPU {idle_stack.cpu_mean:.0f}%, RSS {idle_stack.rss_mean:.0f} MiB. "
        f"CPU: % of one core ({os.cpu_count()} cores), mean over the step; memory summed over each process tree "
        "(RSS counts pages the forked job processes share once per process, PSS splits them)"
    )
    section.notes.append(client_note(settings, client, turns))
    return section


def process_roots(settings: Settings) -> dict[str, list[int]]:
    """Root pids to sample: the agent workers (supervisord programs `agent`, `agent-2` …) and every program."""
    info = Supervisor(settings).info()
    workers = [info[program_name(i)].pid for i in range(settings.agent.workers) if program_name(i) in info]
    return {"agent": [pid for pid in workers if pid], "stack": [p.pid for p in info.values() if p.pid]}


def per_session_row(step: Step, idle_agent: Usage, idle_stack: Usage) -> tuple[str, str]:
    """(measure, figure): CPU and memory per session above idle, at the given step."""
    assert step.agent and step.stack
    n = step.sessions
    return (
        f"per session at {n} concurrent ({'the most under the goal' if step.ok else 'the step that missed it'})",
        f"agent CPU {(step.agent.cpu_mean - idle_agent.cpu_mean) / n:.0f}% of a core, agent memory "
        f"{((step.agent.pss_peak or 0) - (idle_agent.pss_mean or 0)) / n:.0f} MiB PSS "
        f"({(step.agent.rss_peak - idle_agent.rss_mean) / n:.0f} MiB RSS); whole stack CPU "
        f"{(step.stack.cpu_mean - idle_stack.cpu_mean) / n:.0f}% of a core",
    )


def client_note(settings: Settings, client: str, turns: int) -> str:
    """Which client produced the figures, and why that one."""
    lk = find_lk(settings)
    if client == "lk":
        return (
            f"client: `lk perf agent-load-test` ({lk}), {LK_STEP_S} s per step; latency = upper bound of the "
            "worker's histogram bucket; its dispatches name no Letta agent (the worker's not-found path)"
        )
    why = (
        f"lk at {lk} not used: its dispatches carry no Letta agent id (`--client lk` runs it anyway)"
        if lk
        else f"no lk on PATH or in {settings.stack.cache / 'bin'} (scripts/install-livekit.sh could not build it)"
    )
    return (
        f"client: our probe callers (services.agent.probe.Human), each in its own room with a new Letta agent "
        f"made like the default one (no history), up to {turns} espeak-ng turn(s) each within {STEP_BUDGET_S:.0f} s, "
        f"end of speech -> first audible agent audio; {why}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-sessions", type=int, default=None, help="highest step (default: AGENT_MAX_JOBS)")
    parser.add_argument("--turns", type=int, default=TURNS, help="turns per session (probe client)")
    parser.add_argument("--client", choices=("probe", "lk"), default="probe")
    parser.add_argument("--goal-s", type=float, default=P95_GOAL_S, help="p95 turn latency a step must meet")
    args = parser.parse_args()
    section = bench_capacity(get_settings(), args.max_sessions, args.turns, args.client, args.goal_s)
    print(section.markdown())


if __name__ == "__main__":
    main()
    exit_process(0)
