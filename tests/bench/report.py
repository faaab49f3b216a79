"""Benchmark results: percentiles, the machine they ran on, and appending a section to docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS_MD = ROOT / "docs" / "benchmarks.md"


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, round(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(values_s: list[float]) -> str:
    """'p50 X ms, p95 Y ms, p99 Z ms (n=N)' for durations in seconds."""
    ms = [v * 1000 for v in values_s]
    return (
        f"p50 {percentile(ms, 50):.0f} ms, p95 {percentile(ms, 95):.0f} ms, p99 {percentile(ms, 99):.0f} ms, "
        f"mean {statistics.fmean(ms):.0f} ms (n={len(ms)})"
    )


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), {mem_kb / 1048576:.0f} GiB RAM"


def git_revision() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    return (result.stdout.strip() or "unknown") + ("+dirty" if dirty.strip() else "")


@dataclass
class Section:
    """One benchmark's results: rows of (measure, figure, goal, verdict)."""

    title: str
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, measure: str, figure: str, goal: str = "", met: bool | None = None) -> None:
        verdict = "" if met is None else ("met" if met else "**not met**")
        self.rows.append((measure, figure, goal, verdict))
        print(f"  {measure}: {figure}" + (f" (goal {goal}: {verdict})" if goal else ""), flush=True)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| measure | result | goal | verdict |", "|---|---|---|---|"]
        lines += [f"| {m} | {f} | {g} | {v} |" for m, f, g, v in self.rows]
        lines += [""] + [f"- {n}" for n in self.notes] + ([""] if self.notes else [])
        return "\n".join(lines)


def append_run(sections: list[Section], extra: str = "") -> None:
    """Append one run (date, machine, revision, sections) to docs/benchmarks.md."""
    header = (
        f"\n## Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
        f"Machine: {machine()}. Revision: `{git_revision()}`.\n\n"
    )
    body = "\n".join(s.markdown() for s in sections)
    BENCHMARKS_MD.parent.mkdir(exist_ok=True)
    if not BENCHMARKS_MD.exists():
        BENCHMARKS_MD.write_text("# Benchmarks\n\nAppended by `make bench`; newest last.\n")
    with BENCHMARKS_MD.open("a") as out:
        out.write(header + body + extra + "\n")
    print(f"appended to {BENCHMARKS_MD.relative_to(ROOT)}")
