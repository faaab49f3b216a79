"""Memory of the voice worker and the speech service (PSS: shared pages split between the forked processes), at
rest and with one live session, and how long a job process takes to start (prewarm, from the worker's log)."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import psutil

from services.agent.probe import default_agent_id, espeak_wav, human_with_agent
from services.shared.settings import Settings
from services.stack.supervisor import Supervisor
from tests.bench.bench_voice import greeted, one_turn
from tests.bench.report import Section
from tests.bench.sampler import TreeSampler
from tests.helpers import log_entries, only_first_worker

WORKER_GOAL_MB = 500.0
SESSION_TURNS = 3


def pss_mb(proc: psutil.Process) -> float:
    with contextlib.suppress(psutil.Error):
        return proc.memory_full_info().pss / 1048576
    return 0.0


def role(proc: psutil.Process, root: int) -> str:
    """main (the worker), forkserver, job (a job process, prewarmed or serving: the forkserver's children) or
    helper (another child of the worker, e.g. multiprocessing's resource tracker)."""
    if proc.pid == root:
        return "main"
    with contextlib.suppress(psutil.Error):
        if proc.ppid() != root:
            return "job"
        if "forkserver" in " ".join(proc.cmdline()):
            return "forkserver"
    return "helper"


def tree_pss(pid: int) -> dict[str, list[float]]:
    """PSS in MiB of each process of the tree under ``pid``, by role."""
    root = psutil.Process(pid)
    out: dict[str, list[float]] = {}
    for proc in [root, *root.children(recursive=True)]:
        out.setdefault(role(proc, pid), []).append(pss_mb(proc))
    return out


def describe(parts: dict[str, list[float]]) -> str:
    return ", ".join(f"{name} {' + '.join(f'{mb:.0f}' for mb in mbs)}" for name, mbs in parts.items())


def prewarm_seconds(settings: Settings, since: float) -> list[float]:
    """Prewarm seconds of the job processes started after ``since`` (epoch seconds: the worker's start)."""
    out = []
    for e in log_entries(settings, "agent"):
        if e.get("msg") != "job process prewarmed" or "seconds" not in e:
            continue
        ts = datetime.strptime(e["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
        if ts >= since:
            out.append(float(e["seconds"]))
    return out


async def _session(settings: Settings) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        speech = espeak_wav("hello, how are you today", Path(tmp) / "turn.wav")
    async with human_with_agent(settings, default_agent_id(settings)) as (_lk, human):
        await greeted(human)
        for _ in range(SESSION_TURNS):
            await one_turn(human, speech)


def bench_memory(settings: Settings) -> Section:
    info = Supervisor(settings).info()
    worker = info["agent"].pid
    section = Section("Agent worker and speech service memory (PSS), job process start")
    rest = tree_pss(worker)
    total = sum(sum(v) for v in rest.values())
    section.add(
        "agent worker tree at rest (PSS, MiB)",
        f"{total:.0f} ({describe(rest)})",
        f"<= {WORKER_GOAL_MB:.0f} MB",
        total <= WORKER_GOAL_MB,
    )
    roots = {"agent": [worker]}
    if "speech" in info and info["speech"].pid:
        speech = psutil.Process(info["speech"].pid)
        section.add(
            "speech service at rest (MiB)",
            f"PSS {pss_mb(speech):.0f}, RSS {speech.memory_info().rss / 1048576:.0f}",
        )
        roots["speech"] = [speech.pid]
    # Only the first worker runs for the session, so the session is the one the sampled tree serves (with
    # AGENT_WORKERS=2 it would as likely run on agent-2, and "one live session" would measure an idle tree).
    with only_first_worker(settings), TreeSampler(roots, pss=frozenset(roots)) as sampler:
        asyncio.run(_session(settings))
    agent = sampler.usage("agent")
    section.add(
        f"agent worker tree with one live session ({SESSION_TURNS} turns; PSS peak, MiB)",
        f"{agent.pss_peak or 0:.0f} (mean {agent.pss_mean or 0:.0f}; CPU {agent.cpu_mean:.0f}% of a core)",
    )
    if "speech" in roots:
        sp = sampler.usage("speech")
        section.add(
            "speech service during that session (PSS peak, MiB)",
            f"{sp.pss_peak or 0:.0f} (CPU {sp.cpu_mean:.0f}% of a core)",
        )
    seconds = prewarm_seconds(settings, psutil.Process(worker).create_time())
    if seconds:
        section.add(
            "job process prewarm (worker log, 'job process prewarmed')",
            f"median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s (n={len(seconds)})",
        )
    plan = settings.agent
    load = ", ".join(f"{x:.1f}" for x in psutil.getloadavg())
    section.notes.append(f"models: STT {plan.stt.value}, TTS {plan.tts.value}; load average (1, 5, 15 min) {load}")
    return section
