"""Capacity of the stack itself with remote models: concurrent sessions while p95 turn latency stays under 2 s.

The running native stack is switched (.env lines, then `make up`) to a scripted cloud vendor at its HTTP
boundary (tests/scripted_vendor.py, in a process of its own): Letta's LLM provider (OPENAI_BASE_URL,
OPENAI_API_KEY, LLM_MODEL), AGENT_STT=openai and AGENT_TTS=openai, AGENT_MAX_JOBS (and AGENT_WORKERS when
asked) high enough for the ramp. Then the ramp of tests/bench/bench_capacity.py runs: N = 5, 10, 15, 20, 25
probe callers at once (joining ARRIVAL_S apart), each in its own room with a fresh Letta agent, speaking
espeak-ng sentences; a step's turn latency is end of speech -> first audible agent audio, and it stops at the
first step whose p95 passes 2 s or where a turn goes unanswered (`--past-goal`: only at an unanswered turn, so
CPU and memory are measured at every step). Each step also reports the worker's stage means and the CPU of
every other program (Letta, LiveKit, PostgreSQL, ...). Afterwards the stack goes back to its previous settings
(`make up` again), whatever happened, and is checked healthy on its own model; a killed run leaves its .env
lines under MARKER, which the next run takes out first.

What the double reproduces: OpenAI's wire contract as livekit-plugins-openai and Letta use it (the worker
uploads each utterance as a WAV, Letta streams a chat completion with its whole prompt and tools, the TTS gets
about a second of speech-like 24 kHz audio per sentence as base64 MP3 in server-sent events, which the worker
decodes, resamples and publishes); every request goes over HTTP with keep-alive, like a cloud API's.
What it does not: the vendor's latency (zero here: no network, no TLS, no queueing, no model time), rate
limits and errors, real reply lengths (one short sentence, one TTS request per turn), recognition that depends
on the audio. So the figures are the cost of our own stack (LiveKit, the worker and its job processes, Letta,
PostgreSQL): a real vendor adds its latency to every turn and moves no CPU onto this machine.

Alone (prints, appends nothing): .stack/venv/bin/python -m tests.bench.bench_capacity_remote
[--steps 5,10,15,20,25] [--turns N] [--workers N] [--goal-s S] [--past-goal] [--arrival-s S]
Recorded in docs/benchmarks.md: .stack/venv/bin/python -m tests.bench --only capacity-remote
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from services.shared.letta import letta_client
from services.shared.rtc_exit import exit_process
from services.shared.settings import ENV_FILE, Settings, get_settings
from services.stack.health import probe
from services.stack.programs import programs
from services.stack.supervisor import Supervisor
from tests.bench.bench_capacity import (
    P95_GOAL_S,
    STEP_BUDGET_S,
    Ramp,
    Step,
    answer_parts,
    process_roots,
    run_ramp,
)
from tests.bench.report import Section
from tests.bench.sampler import Usage
from tests.helpers import ROOT, add_env_lines, env_file_kept, make_up
from tests.scripted_vendor import CLIP_S, MODEL, TRANSCRIPT

STEPS = (5, 10, 15, 20, 25)
GOAL_SESSIONS = 20
TURNS = 5
API_KEY = "sk-scripted-vendor"  # not a secret: the double accepts any key
MARKER = "# capacity-remote bench: the lines below are removed when it ends (delete them if it was killed)"
VENDOR_ROUTES = ("completions", "transcriptions", "speech")
VENDOR_START_S = 60.0
# Sessions of a step join this far apart (25 within 12 s), as callers arrive, not in one burst: 10 at once made 7
# wait over 30 s for their greeting while Letta answered turns ~20 s late (2026-12-01, load average 6-10).
ARRIVAL_S = 0.5


def remote_lines(url: str, max_jobs: int, workers: int | None = None) -> list[str]:
    """The .env lines that put the stack on the vendor at `url` (after MARKER, so they can be taken out again)."""
    lines = [MARKER, "LLM_PROVIDER=openai", f"OPENAI_BASE_URL={url}", f"OPENAI_API_KEY={API_KEY}"]
    lines += [f"LLM_MODEL={MODEL}", "AGENT_STT=openai", "AGENT_TTS=openai", f"AGENT_MAX_JOBS={max_jobs}"]
    return lines + ([f"AGENT_WORKERS={workers}"] if workers else [])


def without_ours(text: str) -> str:
    """An .env's text without the lines this bench added (from MARKER on)."""
    if MARKER not in text:
        return text
    return text[: text.index(MARKER)].rstrip("\n") + ("\n" if text.index(MARKER) else "")


@contextlib.contextmanager
def vendor_process() -> Iterator[tuple[str, int, Path]]:
    """The scripted vendor in a process of its own (its CPU apart from the callers'): (base URL, pid, its log)."""
    with tempfile.TemporaryDirectory(prefix="scripted-vendor-") as tmp:
        url_file, log = Path(tmp) / "url", Path(tmp) / "vendor.log"
        with log.open("w") as out:
            cmd = [sys.executable, "-m", "tests.scripted_vendor", "--url-file", str(url_file)]
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + VENDOR_START_S
            while not url_file.exists():
                if proc.poll() is not None:
                    raise RuntimeError(f"the scripted vendor exited {proc.returncode}: {log.read_text()[-500:]}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the scripted vendor did not serve within {VENDOR_START_S:.0f} s")
                time.sleep(0.1)
            yield url_file.read_text(), proc.pid, log
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def vendor_stats(url: str) -> dict[str, int]:
    return httpx.get(url.removesuffix("/v1") + "/_stats", timeout=10).json()


def stack_health(settings: Settings) -> list[str]:
    """What is wrong with the running stack for these settings (empty: every program runs and answers healthy,
    and the default agent is on the configured model at its endpoint)."""
    running = {name for name, p in Supervisor(settings).info().items() if p.state == "RUNNING"}
    wrong = [f"{p.name} not running" for p in programs(settings) if p.name not in running]
    wrong += [f"{p.name} unhealthy" for p in programs(settings) if p.name in running and not probe(p.health)]
    llm = settings.llm
    endpoint = (llm.local_base_url if llm.is_local else llm.openai_base_url).rstrip("/")
    agents = list(letta_client(settings, timeout=60).agents.list(name=settings.letta.default_agent_name, limit=1))
    if not agents:
        wrong.append("the default agent is gone")
    elif (agents[0].llm_config.model, (agents[0].llm_config.model_endpoint or "").rstrip("/")) != (
        llm.model_name,
        endpoint,
    ):
        config = agents[0].llm_config
        wrong.append(f"the default agent is on {config.model} at {config.model_endpoint}, not {llm.model_name}")
    return wrong


class SwitchFailed(RuntimeError):
    """`make up` with the vendor's settings did not end healthy."""


@contextlib.contextmanager
def on_vendor(
    url: str, max_jobs: int, workers: int | None, section: Section, restored: list[str]
) -> Iterator[Settings]:
    """The stack running on the vendor for the block; afterwards its previous .env, applied and checked healthy
    whatever happened in the block: `restored` gets what is wrong then (nothing: healthy), or "" first."""
    if ENV_FILE.exists() and MARKER in (text := ENV_FILE.read_text()):
        ENV_FILE.write_text(without_ours(text))
        section.notes.append("an earlier run of this bench was killed: its .env lines were taken out first")
    try:
        with env_file_kept(ENV_FILE):
            add_env_lines(ENV_FILE, *remote_lines(url, max_jobs, workers))
            print("  switching the stack to the scripted vendor (make up) ...", flush=True)
            up = make_up()
            if up.returncode != 0:
                raise SwitchFailed(f"make up on the vendor failed: {up.stdout[-1500:]}")
            get_settings.cache_clear()
            yield get_settings()
    finally:
        get_settings.cache_clear()
        print("  putting the stack back on its previous settings (make up) ...", flush=True)
        back = make_up()
        restored.append("")
        restored += [] if back.returncode == 0 else [f"make up exited {back.returncode}"]
        restored += stack_health(get_settings())
        if back.returncode != 0:
            section.notes.append(f"make up on the way back: {back.stdout[-800:]}")


def per_session(step: Step, idle: dict[str, Usage]) -> str:
    """CPU and memory of one session above idle at a step: the worker's, and the whole stack's (memory: the
    worker's PSS plus the other programs' RSS, "rest")."""
    assert step.agent and step.stack
    n = step.sessions
    agent_cpu = (step.agent.cpu_mean - idle["agent"].cpu_mean) / n
    agent_pss = ((step.agent.pss_peak or 0) - (idle["agent"].pss_mean or 0)) / n
    stack_cpu = (step.stack.cpu_mean - idle["stack"].cpu_mean) / n
    text = f"worker CPU {agent_cpu:.1f}% of a core, PSS {agent_pss:.0f} MiB; "
    text += f"whole stack CPU {stack_cpu:.1f}%"
    rest = step.others.get("rest")
    if rest and "rest" in idle:
        text += f", memory {agent_pss + (rest.rss_peak - idle['rest'].rss_mean) / n:.0f} MiB"
    return text


def describe(step: Step, idle: dict[str, Usage]) -> str:
    """A ramp step's row: p95, answers, the step's totals, per session, the worker's stage means."""
    parts = answer_parts(step)
    assert step.agent and step.stack
    totals = f"worker CPU {step.agent.cpu_mean:.0f}%, PSS peak {step.agent.pss_peak or 0:.0f} MiB; whole stack CPU "
    totals += f"{step.stack.cpu_mean:.0f}%"
    rest = step.others.get("rest")
    if rest:
        totals += f", memory peak {(step.agent.pss_peak or 0) + rest.rss_peak:.0f} MiB"
    parts += [totals, "per session: " + per_session(step, idle)]
    if step.stages:
        parts.append("worker stage means " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in step.stages.items()))
    if any(k.startswith(PROGRAM) for k in step.others):
        parts.append(f"CPU of the other programs: {cpu_by_program(step)}")
    vendor = step.others.get("vendor")
    if vendor:
        parts.append(f"the vendor double CPU {vendor.cpu_mean:.0f}%")
    callers = step.others.get("callers")
    if callers:  # on the same 2 cores as the stack: with it, how busy the machine was
        callers_cpu = callers.cpu_mean - (vendor.cpu_mean if vendor else 0.0)
        busy = step.stack.cpu_mean + callers.cpu_mean
        cores = os.cpu_count() or 1
        parts.append(f"callers (the bench's probes) CPU {callers_cpu:.0f}%, with the stack {busy:.0f}% of {cores}00%")
    return "; ".join(parts) + f" ({step.seconds:.0f} s)"


PROGRAM = "program:"  # sampled tree of one supervised program (not an agent worker): "program:letta"


def program_roots(settings: Settings) -> dict[str, list[int]]:
    """Trees to sample beside the ramp's: each program but the agent workers, and all of them together ("rest":
    the worker's memory is counted as PSS in its own tree, theirs as RSS)."""
    info = Supervisor(settings).info()
    workers = set(process_roots(settings)["agent"])
    programs = {f"{PROGRAM}{name}": [p.pid] for name, p in sorted(info.items()) if p.pid and p.pid not in workers}
    return {**programs, "rest": [pid for pids in programs.values() for pid in pids]}


def cpu_by_program(step: Step) -> str:
    """'letta 40%, postgres 9%, …': the other programs' mean CPU in the step, busiest first."""
    cpu = {k.removeprefix(PROGRAM): u.cpu_mean for k, u in step.others.items() if k.startswith(PROGRAM)}
    return ", ".join(f"{name} {value:.0f}%" for name, value in sorted(cpu.items(), key=lambda kv: -kv[1]))


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def _goal(sessions: int) -> str:
    return f">= {sessions} concurrent sessions"


def _summary(section: Section, ramp: Ramp, goal_sessions: int, stats: dict[str, int]) -> None:
    best = ramp.best
    most = best.sessions if best else 0
    figure = f"{most}" + (" (every step met the goal: more may fit)" if best and best is ramp.steps[-1] else "")
    section.add("most concurrent sessions under the goal", figure, _goal(goal_sessions), most >= goal_sessions)
    step = best or ramp.steps[-1]
    which = "the most under the goal" if step.ok else "the step that missed it"
    section.add(f"per session at {step.sessions} concurrent ({which})", per_session(step, ramp.idle))
    used = ", ".join(f"{stats.get(route, 0)} {route}" for route in VENDOR_ROUTES)
    every = all(stats.get(route) for route in VENDOR_ROUTES)
    section.add("requests the vendor double answered", used, "STT, LLM and TTS all on it", every)
    other = {k: v for k, v in stats.items() if k not in (*VENDOR_ROUTES, "models")}
    if other:
        section.notes.append(f"the vendor double also got: {other}")


def bench_capacity_remote(
    settings: Settings,
    steps: tuple[int, ...] = STEPS,
    turns: int = TURNS,
    workers: int | None = None,
    goal_s: float = P95_GOAL_S,
    goal_sessions: int = GOAL_SESSIONS,
    past_goal: bool = False,
    arrival_s: float = ARRIVAL_S,
) -> Section:
    """Switch the stack to the scripted vendor, ramp `steps` concurrent sessions, put the stack back.

    The ramp stops after the first step that misses goal_s, or (past_goal) only once a turn goes unanswered."""
    section = Section(
        f"Capacity of the stack itself with remote models (scripted instant vendor): sessions with p95 turn "
        f"<= {goal_s:g} s ({', '.join(map(str, steps))})"
    )
    load_before = _load()
    stats: dict[str, int] = {}
    ramp: Ramp | None = None
    restored: list[str] = []
    try:
        with (
            vendor_process() as (url, vendor_pid, _log),
            on_vendor(url, max(steps), workers, section, restored) as remote,
        ):
            ramp = run_ramp(
                remote,
                section,
                list(steps),
                turns,
                "probe",
                goal_s,
                # callers: this process (the probes) and its children (the vendor, subtracted again)
                extra_roots={"vendor": [vendor_pid], "callers": [os.getpid()], **program_roots(remote)},
                describe=describe,
                label="capacity (remote models)",
                past_goal=past_goal,
                arrival_s=arrival_s,
            )
            stats = vendor_stats(url)
    except Exception as exc:  # the section still says what happened (the stack was put back above)
        section.notes.append(f"the bench stopped: {type(exc).__name__}: {str(exc)[:600]}")
    if ramp is not None:
        _summary(section, ramp, goal_sessions, stats)
        idle_agent, idle_stack = ramp.idle["agent"], ramp.idle["stack"]
        idle_memory = (idle_agent.pss_mean or 0) + ramp.idle["rest"].rss_mean
        section.notes.append(
            f"idle on the vendor: worker CPU {idle_agent.cpu_mean:.0f}%, PSS {idle_agent.pss_mean or 0:.0f} MiB; "
            f"whole stack CPU {idle_stack.cpu_mean:.0f}%, memory {idle_memory:.0f} MiB. CPU in % of one core "
            f"({os.cpu_count()} cores), mean over the step; per session = (step - idle) / "
            "sessions, memory at the step's peak; worker = the agent worker trees (PSS: the pages their forked job "
            "processes share are split between them), whole stack = every supervised program (memory: the worker's "
            "PSS plus the other programs' RSS)"
        )
    else:
        section.add("most concurrent sessions under the goal", "not measured", _goal(goal_sessions), False)
    if max(steps) < goal_sessions:
        section.notes.append(f"the ramp's top step ({max(steps)}) is under the goal: no verdict on {goal_sessions}")
    if restored:
        wrong = "; ".join(x for x in restored if x)
        figure = wrong or f"every service healthy, the default agent on {get_settings().llm.model_name}"
        section.add("the stack back on its previous settings", figure, "healthy, on its own model", not wrong)
    else:
        section.add("the stack back on its previous settings", "not switched (the vendor did not start)")
    section.notes.append(
        f"vendor double (tests/scripted_vendor.py): zero latency; STT -> {TRANSCRIPT!r}, LLM -> 'Noted.', TTS -> "
        f"{CLIP_S:g} s of speech-like MP3 per sentence: the figures are our stack's own cost, a real vendor adds "
        f"its latency to every turn. Callers: our probe (services.agent.probe.Human), up to {turns} espeak-ng "
        f"turns each within {STEP_BUDGET_S:.0f} s, a new Letta agent per session, joining {arrival_s:g} s apart; "
        f"{workers or settings.agent.workers} agent worker(s)"
    )
    section.notes.append(f"load average (1, 5, 15 min): before {load_before}, after {_load()}")
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", default=",".join(map(str, STEPS)), help="concurrent sessions per step")
    parser.add_argument("--turns", type=int, default=TURNS, help="turns per session")
    parser.add_argument("--workers", type=int, default=None, help="AGENT_WORKERS during the ramp (default: as set)")
    parser.add_argument("--goal-s", type=float, default=P95_GOAL_S, help="p95 turn latency a step must meet")
    parser.add_argument("--arrival-s", type=float, default=ARRIVAL_S, help="seconds between sessions joining")
    parser.add_argument(
        "--past-goal", action="store_true", help="ramp on past a step that missed the latency goal, until a turn fails"
    )
    args = parser.parse_args()
    try:
        steps = tuple(sorted({int(x) for x in args.steps.split(",") if x.strip()}))
    except ValueError:
        parser.error(f"--steps: whole numbers separated by commas, not {args.steps!r}")
    if not steps or min(steps) < 1:
        parser.error("--steps: at least one step of 1 or more sessions")
    section = bench_capacity_remote(
        get_settings(), steps, args.turns, args.workers, args.goal_s, past_goal=args.past_goal, arrival_s=args.arrival_s
    )
    print(section.markdown())


if __name__ == "__main__":
    main()
    exit_process(0)
