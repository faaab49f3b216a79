"""Warm `make up` time (stack stopped, builds cached) and resident memory of each service."""

from __future__ import annotations

import contextlib
import subprocess
import time

import psutil

from services.shared.settings import Settings
from services.stack.supervisor import Supervisor
from tests.bench.report import ROOT, Section

WARM_UP_GOAL_S = 45.0


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MiB (0 when it is gone)."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for proc in tree:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total / 1048576


def run_make(target: str) -> float:
    started = time.monotonic()
    subprocess.run(["make", target], cwd=ROOT, check=True, stdout=subprocess.DEVNULL, timeout=900)
    return time.monotonic() - started


def bench_warm_up(settings: Settings) -> Section:
    section = Section("Native stack: warm `make up` and memory at rest")
    run_make("down")
    seconds = run_make("up")
    section.add(
        "warm `make up` (stopped stack, builds cached) to all healthy",
        f"{seconds:.1f} s",
        f"<= {WARM_UP_GOAL_S:.0f} s",
        seconds <= WARM_UP_GOAL_S,
    )
    again = run_make("up")
    section.add("`make up` again on a running stack", f"{again:.1f} s")
    section.add(*memory_row(settings))
    return section


def memory_row(settings: Settings) -> tuple[str, str]:
    info = Supervisor(settings).info()
    rss = {name: tree_rss_mb(p.pid) for name, p in info.items() if p.pid}
    parts = [f"{name} {mb:.0f}" for name, mb in rss.items()]
    return "resident memory at rest (MiB, process trees)", ", ".join(parts) + f"; total {sum(rss.values()):.0f}"
