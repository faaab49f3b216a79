"""`make bench` charts: a run with samples writes a real PNG next to the markdown and links it; one without, none."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from tests.bench.chart import chart_rows, needs_log_scale
from tests.bench.report import Goal, Section, append_run

pytestmark = pytest.mark.unit

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _sections() -> list[Section]:
    rng = random.Random(1)
    dispatch = Section("Dispatch")
    dispatch.add_samples("dispatch: create_dispatch → agent joined", [rng.uniform(0.08, 0.4) for _ in range(50)])
    voice = Section("Voice")
    voice.add_samples("voice: end of speech → first agent audio", [rng.uniform(1.5, 9.0) for _ in range(20)])
    voice.add_samples("voice: end of speech → first agent audio", [12.0])  # extends the same set
    quiet = Section("No samples")
    quiet.add("a measure", "1 s")
    return [dispatch, voice, quiet]


def test_a_run_with_samples_writes_a_png_and_links_it(tmp_path: Path) -> None:
    md, charts = tmp_path / "docs" / "benchmarks.md", tmp_path / "docs" / "bench"
    sections = _sections()
    assert len(sections[1].samples["voice: end of speech → first agent audio"]) == 21

    append_run(sections, md_path=md, chart_dir=charts)

    (png,) = charts.glob("latency-*.png")
    assert re.fullmatch(r"latency-\d{8}-\d{4}\.png", png.name)
    data = png.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 10_000, "a chart with two box plots is more than a few bytes"
    text = md.read_text()
    assert f"![latency distributions](bench/{png.name})" in text
    assert text.index("![latency distributions]") < text.index("### Dispatch")


def test_a_second_run_in_the_same_minute_gets_its_own_file(tmp_path: Path) -> None:
    md = tmp_path / "benchmarks.md"
    append_run(_sections(), md_path=md, chart_dir=tmp_path / "bench")
    append_run(_sections(), md_path=md, chart_dir=tmp_path / "bench")
    pngs = sorted(p.name for p in (tmp_path / "bench").glob("*.png"))
    assert len(pngs) == 2
    assert all(f"](bench/{name})" in md.read_text() for name in pngs)


def test_a_run_without_samples_writes_no_chart(tmp_path: Path) -> None:
    md, charts = tmp_path / "benchmarks.md", tmp_path / "bench"
    section = Section("Only rows")
    section.add("warm make up", "40 s")
    append_run([section], md_path=md, chart_dir=charts)
    assert not charts.exists()
    assert "![" not in md.read_text()
    assert "### Only rows" in md.read_text()


@pytest.mark.parametrize(
    ("sets", "log"),
    [
        ({"a": [0.1, 0.2], "b": [0.15]}, False),
        ({"dispatch": [0.1, 0.3], "voice": [3.0, 9.0]}, True),
        ({"one": [0.05, 5.0]}, True),
        ({"empty": []}, False),
    ],
)
def test_log_scale_only_when_the_samples_span_a_wide_range(sets: dict[str, list[float]], log: bool) -> None:
    assert needs_log_scale(sets) is log


def test_each_goal_is_a_line_at_its_value_with_the_verdict_of_its_percentile() -> None:
    sets = {"dispatch": [0.05, 0.08, 0.09, 0.2, 0.5], "sweep": [0.01, 0.02]}
    goals = {"dispatch": [Goal(0.1, 50), Goal(0.3, 99)]}
    dispatch, sweep = chart_rows(sets, goals)
    assert [(m.goal_ms, m.pct) for m in dispatch.goals] == [(100.0, 50), (300.0, 99)]
    assert dispatch.goals[0].met and dispatch.goals[0].actual_ms == pytest.approx(80.0)  # nearest rank
    assert not dispatch.goals[1].met and dispatch.goals[1].actual_ms == pytest.approx(500.0)
    assert dispatch.verdict == "not met"
    assert "goal NOT MET" in dispatch.label
    assert dispatch.goals[1].text == "goal p99 <= 300 ms: NOT MET (p99 500 ms)"
    assert sweep.goals == [] and sweep.verdict == "no goal" and "goal" not in sweep.label


def test_a_met_goal_says_met_and_empty_sets_have_no_row() -> None:
    (row,) = chart_rows({"voice": [1.0, 1.1, 1.3], "empty": []}, {"voice": [Goal(1.2, 50)], "empty": [Goal(1.0)]})
    assert row.verdict == "met" and row.values_ms == pytest.approx([1000.0, 1100.0, 1300.0])
    assert "goal met" in row.label


def test_goals_given_with_the_samples_reach_the_chart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def fake_render(sets, path, title, subtitle="", goals=None):  # type: ignore[no-untyped-def]
        seen.update(sets=sets, goals=goals)
        return path

    monkeypatch.setattr("tests.bench.chart.render", fake_render)
    section = Section("Dispatch")
    section.add_samples("dispatch", [0.1], (Goal(0.1, 50),))
    section.add_samples("dispatch", [0.2], (Goal(0.1, 50), Goal(0.3, 99)))
    append_run([section], md_path=tmp_path / "b.md", chart_dir=tmp_path / "bench")
    assert seen["goals"]["dispatch"] == [Goal(0.1, 50), Goal(0.3, 99)]  # type: ignore[index]
    assert seen["sets"]["dispatch"] == [0.1, 0.2]  # type: ignore[index]


def test_a_goal_outside_the_samples_widens_the_scale() -> None:
    assert needs_log_scale({"a": [0.1, 0.2]}, {"a": [Goal(5.0)]})
    assert not needs_log_scale({"a": [0.1, 0.2]}, {"b": [Goal(5.0)]})
