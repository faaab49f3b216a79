"""The chaos scenario log behind the `chaos_figure` fixture and the Chaos section of docs/benchmarks.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos_report import FAIL, PASS, SKIPPED, ChaosLog, cell, merge_outcome, scenario_name

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("previous", "when", "outcome", "expected"),
    [
        (None, "setup", "passed", None),
        (None, "call", "passed", PASS),
        (PASS, "teardown", "passed", PASS),
        (PASS, "teardown", "failed", FAIL),
        (None, "setup", "failed", FAIL),
        (None, "setup", "skipped", SKIPPED),
        (None, "call", "failed", FAIL),
        (FAIL, "teardown", "passed", FAIL),
    ],
)
def test_merge_outcome(previous: str | None, when: str, outcome: str, expected: str | None) -> None:
    assert merge_outcome(previous, when, outcome) == expected


def test_cell_is_one_table_cell() -> None:
    assert cell("a | b\n  c") == "a \\| b c"


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ("Worker killed.\n\n    More.", "Worker killed."),
        ("\n  Letta stopped\n", "Letta stopped"),
        (None, "fn"),
        ("", "fn"),
    ],
)
def test_scenario_name(doc: str | None, expected: str) -> None:
    assert scenario_name(doc, "fn") == expected


def reported(log: ChaosLog, node: str, name: str, *outcomes: tuple[str, str]) -> None:
    for when, outcome in outcomes:
        log.report(node, name, when, outcome)


def test_section_rows_in_run_order_with_verdicts() -> None:
    log = ChaosLog()
    log.figure("t::a", "A", "1 created")
    log.figure("t::a", "A", "99 conflicts")
    reported(log, "t::a", "A", ("setup", "passed"), ("call", "passed"), ("teardown", "passed"))
    reported(log, "t::b", "B", ("setup", "passed"), ("call", "failed"), ("teardown", "passed"))
    reported(log, "t::c", "C", ("setup", "skipped"))
    log.figure("t::d", "D", "recorded but never reported")

    rows = log.section().rows
    assert rows == [
        ("A", "1 created; 99 conflicts", "", "pass"),
        ("B", "—", "", "**fail**"),
        ("C", "—", "", "skipped"),
    ]


def test_write_appends_a_chaos_section(tmp_path: Path) -> None:
    md = tmp_path / "benchmarks.md"
    md.write_text("# Benchmarks\n")
    log = ChaosLog()
    log.figure("t::a", "Racing | requests", "100 requests in 2.0 s")
    reported(log, "t::a", "Racing | requests", ("call", "passed"))

    assert log.write(md)
    text = md.read_text()
    assert text.startswith("# Benchmarks\n")
    assert "### Chaos (`make chaos`)" in text
    assert "| Racing \\| requests | 100 requests in 2.0 s |  | pass |" in text


def test_write_without_scenarios_leaves_the_file_alone(tmp_path: Path) -> None:
    md = tmp_path / "benchmarks.md"
    md.write_text("# Benchmarks\n")
    log = ChaosLog()
    log.figure("t::a", "A", "recorded, but the test never reported")
    assert not log.write(md)
    assert md.read_text() == "# Benchmarks\n"
