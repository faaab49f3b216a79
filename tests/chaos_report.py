"""Chaos scenarios with their outcome and figures, for a "Chaos" section in docs/benchmarks.md.

Each chaos test is one scenario, named by the first line of its docstring. The test records figures with the
`chaos_figure` fixture (tests/conftest.py); pytest's reports give pass/fail. `make chaos` sets CHAOS_REPORT=1,
and the session then appends the section with tests/bench/report.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tests.bench.report import BENCHMARKS_MD, Section, append_run

REPORT_ENV = "CHAOS_REPORT"
PASS, FAIL, SKIPPED = "pass", "fail", "skipped"


@dataclass
class Scenario:
    name: str
    figures: list[str] = field(default_factory=list)
    outcome: str | None = None  # None until the test's call phase has a result


def merge_outcome(previous: str | None, when: str, outcome: str) -> str | None:
    """The scenario's outcome after one pytest report (setup, call or teardown): a failure anywhere is final."""
    if previous == FAIL or outcome == "failed":
        return FAIL
    if outcome == "skipped":
        return SKIPPED
    if when == "call" and outcome == "passed":
        return PASS
    return previous


def cell(text: str) -> str:
    """Text fit for one markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


@dataclass
class ChaosLog:
    """Scenarios of one pytest session, by test node id, in the order they ran."""

    scenarios: dict[str, Scenario] = field(default_factory=dict)

    def _get(self, node_id: str, name: str) -> Scenario:
        return self.scenarios.setdefault(node_id, Scenario(name))

    def figure(self, node_id: str, name: str, figure: str) -> None:
        self._get(node_id, name).figures.append(figure)

    def report(self, node_id: str, name: str, when: str, outcome: str) -> None:
        scenario = self._get(node_id, name)
        scenario.outcome = merge_outcome(scenario.outcome, when, outcome)

    def section(self) -> Section:
        """The scenarios that ran, as rows (scenario, figure, "", pass/fail)."""
        section = Section("Chaos (`make chaos`)")
        for s in self.scenarios.values():
            if s.outcome is None:
                continue
            verdict = {PASS: PASS, FAIL: f"**{FAIL}**"}.get(s.outcome, s.outcome)
            section.rows.append((cell(s.name), cell("; ".join(s.figures)) or "—", "", verdict))
        section.notes.append("verdict: the scenario's test passed or failed in this run; figures from the same run")
        return section

    def write(self, md_path: Path = BENCHMARKS_MD) -> bool:
        """Append the section to md_path; False (nothing written) when no scenario ran."""
        section = self.section()
        if not section.rows:
            return False
        append_run([section], md_path=md_path)
        return True


def scenario_name(docstring: str | None, fallback: str) -> str:
    """The first line of a test's docstring, or its name."""
    first = (docstring or "").strip().splitlines()
    return first[0].strip() if first and first[0].strip() else fallback
