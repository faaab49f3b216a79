"""`make bench` charts: a run with samples writes a real PNG next to the markdown and links it; one without, none."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from tests.bench.chart import needs_log_scale
from tests.bench.report import Section, append_run

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
