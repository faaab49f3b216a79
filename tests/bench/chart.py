"""One PNG per `make bench` run: the latency samples of every section, as box plots with the points over them,
and each sample set's goals as lines with their verdicts."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator

from tests.bench.report import Goal

# Samples spanning more than this factor get a log-scale axis, so the short ones stay readable.
LOG_SCALE_RATIO = 20.0
MET_COLOUR, MISSED_COLOUR = "tab:green", "tab:red"


@dataclass(frozen=True)
class GoalMark:
    """One goal as drawn: where its line goes (ms), the measured percentile (ms) and the verdict."""

    goal_ms: float
    pct: float
    actual_ms: float
    met: bool

    @property
    def text(self) -> str:
        verdict = "met" if self.met else "NOT MET"
        return f"goal p{self.pct:g} <= {self.goal_ms:g} ms: {verdict} (p{self.pct:g} {self.actual_ms:.0f} ms)"


@dataclass(frozen=True)
class ChartRow:
    """One box of the chart: its label, samples in ms and its goals."""

    label: str
    values_ms: list[float]
    goals: list[GoalMark]

    @property
    def verdict(self) -> str:
        """'met', 'not met' (any goal missed) or 'no goal'."""
        if not self.goals:
            return "no goal"
        return "met" if all(g.met for g in self.goals) else "not met"


def chart_rows(sets: dict[str, list[float]], goals: dict[str, list[Goal]] | None = None) -> list[ChartRow]:
    """The chart's rows: every non-empty sample set (seconds) in ms, with its goals' lines and verdicts."""
    goals = goals or {}
    rows = []
    for label, values in sets.items():
        if not values:
            continue
        marks = [
            GoalMark(g.seconds * 1000, g.pct, g.actual(values) * 1000, g.met(values)) for g in goals.get(label, [])
        ]
        verdict = "" if not marks else f", goal {'met' if all(m.met for m in marks) else 'NOT MET'}"
        rows.append(ChartRow(f"{label} (n={len(values)}{verdict})", [v * 1000 for v in values], marks))
    return rows


def needs_log_scale(sets: dict[str, list[float]], goals: dict[str, list[Goal]] | None = None) -> bool:
    """True when the largest positive sample (or goal) is more than LOG_SCALE_RATIO times the smallest."""
    values = [v for vs in sets.values() for v in vs if v > 0]
    values += [g.seconds for label, gs in (goals or {}).items() if sets.get(label) for g in gs if g.seconds > 0]
    return bool(values) and max(values) / min(values) > LOG_SCALE_RATIO


def render(
    sets: dict[str, list[float]],
    path: Path,
    title: str,
    subtitle: str = "",
    goals: dict[str, list[Goal]] | None = None,
) -> Path:
    """Draw one box per non-empty sample set (seconds, shown in ms), its goals as lines, into a PNG at `path`."""
    rows = chart_rows(sets, goals)
    if not rows:
        raise ValueError("no samples to draw")
    fig = Figure(figsize=(10, 1.6 + 0.55 * len(rows) + 0.2 * sum(len(r.goals) for r in rows)), layout="constrained")
    ax = fig.add_subplot()
    data = [row.values_ms for row in rows]
    ax.boxplot(data, orientation="horizontal", tick_labels=[r.label for r in rows], showfliers=False, widths=0.6)
    jitter = random.Random(0)
    for n, values in enumerate(data, start=1):
        ax.scatter(values, [n + jitter.uniform(-0.18, 0.18) for _ in values], s=9, alpha=0.45, color="tab:blue")
    for n, row in enumerate(rows, start=1):
        for k, mark in enumerate(row.goals):
            colour = MET_COLOUR if mark.met else MISSED_COLOUR
            ax.vlines(mark.goal_ms, n - 0.42, n + 0.42, colors=colour, linestyles="--", linewidth=2)
            ax.annotate(
                f"p{mark.pct:g}",
                (mark.goal_ms, n - 0.42),
                xytext=(2, 1),
                textcoords="offset points",
                fontsize=7,
                color=colour,
                va="bottom",
            )
            # The verdict at the row's right edge (axes x, data y), clear of the points and never clipped.
            ax.text(
                0.995,
                n - 0.46 + 0.2 * k,  # the y axis is inverted: from the row's top down
                mark.text,
                transform=ax.get_yaxis_transform(),
                ha="right",
                va="top",
                fontsize=7,
                color=colour,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1},
            )
    if needs_log_scale(sets, goals):
        ax.set_xscale("log")
        plain = FuncFormatter(lambda value, _pos: f"{value:g}")  # 200, 500, 1000 rather than 10^3
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        ax.xaxis.set_minor_formatter(plain)
    ax.invert_yaxis()  # first sample set on top, like the markdown below it
    ax.set_xlabel("milliseconds" + (" (log scale)" if ax.get_xscale() == "log" else "") + "; dashed: goal")
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.suptitle(title, fontsize=11)
    if subtitle:
        ax.set_title(subtitle, fontsize=8, color="dimgray")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100)
    return path
