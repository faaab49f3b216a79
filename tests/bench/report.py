"""Benchmark results: percentiles, the machine they ran on, and appending a run to docs/benchmarks.md
(with a PNG of the run's latency distributions under docs/bench/ when a section carries samples)."""

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
CHART_DIR = "bench"  # next to the markdown file, so the link is relative and works on GitHub


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
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, timeout=30
    ).stdout
    return (result.stdout.strip() or "unknown") + ("+dirty" if dirty.strip() else "")


@dataclass(frozen=True)
class Goal:
    """A latency goal of one sample set: its `pct` percentile at most `seconds`."""

    seconds: float
    pct: float = 50.0

    def actual(self, values: list[float]) -> float:
        return percentile(values, self.pct)

    def met(self, values: list[float]) -> bool:
        return self.actual(values) <= self.seconds

    def label(self) -> str:
        return f"p{self.pct:g} <= {self.seconds * 1000:g} ms"


@dataclass
class Section:
    """One benchmark's results: rows of (measure, figure, goal, verdict), notes, and raw samples for the chart."""

    title: str
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    samples: dict[str, list[float]] = field(default_factory=dict)  # chart label -> durations in seconds
    goals: dict[str, list[Goal]] = field(default_factory=dict)  # chart label -> its goals (drawn as lines)

    def add_samples(self, label: str, seconds: list[float], goals: tuple[Goal, ...] = ()) -> None:
        """Keep raw durations (seconds) to draw in the run's latency chart; a label used again is extended.

        Each goal is drawn as a line over the label's box with its verdict."""
        self.samples.setdefault(label, []).extend(seconds)
        known = self.goals.setdefault(label, [])
        known.extend(g for g in goals if g not in known)

    def add(self, measure: str, figure: str, goal: str = "", met: bool | None = None) -> None:
        verdict = "" if met is None else ("met" if met else "**not met**")
        self.rows.append((measure, figure, goal, verdict))
        print(f"  {measure}: {figure}" + (f" (goal {goal}: {verdict})" if goal else ""), flush=True)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| measure | result | goal | verdict |", "|---|---|---|---|"]
        lines += [f"| {m} | {f} | {g} | {v} |" for m, f, g, v in self.rows]
        lines += [""] + [f"- {n}" for n in self.notes] + ([""] if self.notes else [])
        return "\n".join(lines)


def chart_name(now: time.struct_time, folder: Path) -> str:
    """'latency-YYYYMMDD-HHMM.png', with a suffix when a run of the same minute already has that name."""
    stem = f"latency-{time.strftime('%Y%m%d-%H%M', now)}"
    name, n = f"{stem}.png", 1
    while (folder / name).exists():
        n += 1
        name = f"{stem}-{n}.png"
    return name


def write_chart(sections: list[Section], md_path: Path, chart_dir: Path, now: time.struct_time, where: str) -> str:
    """Render the sections' samples into chart_dir; return the markdown image line (empty without samples)."""
    sets: dict[str, list[float]] = {}
    goals: dict[str, list[Goal]] = {}
    for section in sections:
        for label, values in section.samples.items():
            sets.setdefault(label, []).extend(values)
            goals.setdefault(label, []).extend(section.goals.get(label, []))
    sets = {label: values for label, values in sets.items() if values}
    if not sets:
        return ""
    try:
        from tests.bench.chart import render  # matplotlib (dev extra) only when there is something to draw
    except ImportError as exc:
        print(f"no latency chart: {exc} (install the dev extra)")
        return ""
    png = chart_dir / chart_name(now, chart_dir)
    title = f"Latency distributions, run of {time.strftime('%Y-%m-%d %H:%M UTC', now)}"
    render(sets, png, title, where, goals)
    print(f"wrote {png}")
    return f"![latency distributions]({Path(os.path.relpath(png, md_path.parent)).as_posix()})\n\n"


def append_run(
    sections: list[Section], extra: str = "", md_path: Path = BENCHMARKS_MD, chart_dir: Path | None = None
) -> None:
    """Append one run (date, machine, revision, chart, sections) to md_path (docs/benchmarks.md).

    The chart goes to chart_dir (default: docs/bench/ next to md_path) and is linked from the run.
    """
    now = time.gmtime()
    where = machine()
    header = (
        f"\n## Run of {time.strftime('%Y-%m-%d %H:%M UTC', now)}\n\nMachine: {where}. Revision: `{git_revision()}`.\n\n"
    )
    image = write_chart(sections, md_path, chart_dir or md_path.parent / CHART_DIR, now, where)
    body = "\n".join(s.markdown() for s in sections)
    md_path.parent.mkdir(parents=True, exist_ok=True)
    if not md_path.exists():
        md_path.write_text("# Benchmarks\n\nAppended by `make bench`; newest last.\n")
    with md_path.open("a") as out:
        out.write(header + image + body + extra + "\n")
    print(f"appended to {md_path}")
