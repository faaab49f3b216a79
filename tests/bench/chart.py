"""One PNG per `make bench` run: the latency samples of every section, as box plots with the points over them."""

from __future__ import annotations

import random
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator

# Samples spanning more than this factor get a log-scale axis, so the short ones stay readable.
LOG_SCALE_RATIO = 20.0


def needs_log_scale(sets: dict[str, list[float]]) -> bool:
    """True when the largest positive sample is more than LOG_SCALE_RATIO times the smallest."""
    values = [v for vs in sets.values() for v in vs if v > 0]
    return bool(values) and max(values) / min(values) > LOG_SCALE_RATIO


def render(sets: dict[str, list[float]], path: Path, title: str, subtitle: str = "") -> Path:
    """Draw one box per non-empty sample set (seconds, shown in ms) into a PNG at `path`."""
    sets = {label: values for label, values in sets.items() if values}
    if not sets:
        raise ValueError("no samples to draw")
    labels = [f"{label} (n={len(values)})" for label, values in sets.items()]
    data = [[v * 1000 for v in values] for values in sets.values()]
    fig = Figure(figsize=(10, 1.6 + 0.55 * len(labels)), layout="constrained")
    ax = fig.add_subplot()
    ax.boxplot(data, orientation="horizontal", tick_labels=labels, showfliers=False, widths=0.6)
    jitter = random.Random(0)
    for row, values in enumerate(data, start=1):
        ax.scatter(values, [row + jitter.uniform(-0.18, 0.18) for _ in values], s=9, alpha=0.45, color="tab:blue")
    if needs_log_scale(sets):
        ax.set_xscale("log")
        plain = FuncFormatter(lambda value, _pos: f"{value:g}")  # 200, 500, 1000 rather than 10^3
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        ax.xaxis.set_minor_formatter(plain)
    ax.invert_yaxis()  # first sample set on top, like the markdown below it
    ax.set_xlabel("milliseconds" + (" (log scale)" if ax.get_xscale() == "log" else ""))
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.suptitle(title, fontsize=11)
    if subtitle:
        ax.set_title(subtitle, fontsize=8, color="dimgray")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100)
    return path
