"""Killed-mutant score per module from mutmut's results (mutants/**/*.meta), as a Markdown table.

python scripts/mutation_score.py MODULE... [--append docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KILLED = {1, 3, 24, -24, 36, 152, 255}  # mutmut's "killed" and "timeout" exit codes (both count as caught)
SURVIVED = {0}
NO_TESTS = {5, 33}


@dataclass(frozen=True)
class Score:
    module: str
    total: int
    killed: int
    survived: int
    no_tests: int

    @property
    def percent(self) -> float:
        return 100.0 * self.killed / self.total if self.total else 0.0


def score(module: str, mutants: Path) -> Score:
    meta = mutants / (module.replace(".", "/") + ".py.meta")
    codes = list(json.loads(meta.read_text())["exit_code_by_key"].values()) if meta.exists() else []
    checked = [c for c in codes if c is not None]
    return Score(
        module,
        len(checked),
        sum(c in KILLED for c in checked),
        sum(c in SURVIVED for c in checked),
        sum(c in NO_TESTS for c in checked),
    )


def revision() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "services", "tests"], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    return done.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def table(scores: list[Score]) -> str:
    machine = f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    lines = [
        f"### Mutation testing (mutmut 3.8.1, unit tests) — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"Machine: {machine}; revision {revision()}.",
        "",
        "| module | mutants | killed | survived | no test reaches it | killed % |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {s.module} | {s.total} | {s.killed} | {s.survived} | {s.no_tests} | {s.percent:.1f} |" for s in scores
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="+")
    parser.add_argument("--append", type=Path, help="append the table to this Markdown file")
    parser.add_argument("--mutants", type=Path, default=ROOT / "mutants")
    args = parser.parse_args()
    text = table([score(m, args.mutants) for m in args.modules])
    print(text)
    if args.append:
        with args.append.open("a") as f:
            f.write("\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
