"""Warm `make up` time (stack stopped, builds cached) and resident memory of each service."""

from __future__ import annotations

import subprocess
import time

from services.shared.settings import Settings
from services.stack.supervisor import Supervisor
from tests.bench.report import ROOT, Section

WARM_UP_GOAL_S = 45.0


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MiB."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,rss="], capture_output=True, text=True).stdout.split()
    rows = [(int(a), int(b), int(c)) for a, b, c in zip(out[::3], out[1::3], out[2::3], strict=True)]
    children: dict[int, list[int]] = {}
    for child, parent, _ in rows:
        children.setdefault(parent, []).append(child)
    rss = {p: r for p, _, r in rows}
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += rss.get(current, 0)
        todo += children.get(current, [])
    return total / 1024


def run_make(target: str) -> float:
    started = time.monotonic()
    subprocess.run(["make", target], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
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
    parts = [f"{name} {tree_rss_mb(p.pid):.0f}" for name, p in info.items() if p.pid]
    total = sum(tree_rss_mb(p.pid) for p in info.values() if p.pid)
    return "resident memory at rest (MiB, process trees)", ", ".join(parts) + f"; total {total:.0f}"
