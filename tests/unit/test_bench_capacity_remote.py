"""The remote capacity bench's decisions: the .env lines it adds and takes out again, per-session figures, and the
verdicts of its summary rows."""

from __future__ import annotations

import pytest

from tests.bench.bench_capacity import Ramp, Step
from tests.bench.bench_capacity_remote import (
    MARKER,
    _summary,
    cpu_by_program,
    per_session,
    remote_lines,
    without_ours,
)
from tests.bench.report import Section
from tests.bench.sampler import Usage

pytestmark = pytest.mark.unit


def usage(cpu: float, rss: float, pss: float | None = None) -> Usage:
    return Usage(cpu, rss, rss, pss, pss, 10)


IDLE = {"agent": usage(10, 300, 200), "stack": usage(20, 1500), "rest": usage(5, 1200)}


def step(sessions: int, latencies: list[float], unanswered: int = 0) -> Step:
    s = Step(sessions, 1, latencies=latencies, unanswered=unanswered)
    s.agent, s.stack = usage(10 + 8 * sessions, 300 + 90 * sessions, 200 + 60 * sessions), usage(60, 2500)
    s.others = {"rest": usage(9, 1200 + 20 * sessions)}
    return s


def test_the_lines_switch_every_setting_the_vendor_needs() -> None:
    lines = remote_lines("http://127.0.0.1:5555/v1", 25)
    assert lines[0] == MARKER
    settings = dict(line.split("=", 1) for line in lines[1:])
    assert settings == {
        "LLM_PROVIDER": "openai",
        "OPENAI_BASE_URL": "http://127.0.0.1:5555/v1",
        "OPENAI_API_KEY": "sk-scripted-vendor",
        "LLM_MODEL": "scripted-llm",
        "AGENT_STT": "openai",
        "AGENT_TTS": "openai",
        "AGENT_MAX_JOBS": "25",
    }
    assert "AGENT_WORKERS=2" in remote_lines("http://x/v1", 25, workers=2)


@pytest.mark.parametrize(
    "original",
    ["", "LIVEKIT_PORT=8880\n", "LIVEKIT_PORT=8880", "A=1\n\nB=2\n"],
    ids=["empty", "one line", "no final newline", "blank line inside"],
)
def test_the_added_lines_come_out_again_and_nothing_else(original: str) -> None:
    text = original + ("" if original.endswith("\n") or not original else "\n") + "\n".join(remote_lines("u", 5))
    kept = without_ours(text + "\n")
    assert kept.splitlines() == original.splitlines()
    assert MARKER not in kept and "AGENT_STT" not in kept
    assert without_ours(original) == original


def test_per_session_figures_are_above_idle_and_divided_by_sessions() -> None:
    text = per_session(step(4, [0.5]), IDLE)
    # worker CPU (42 - 10) / 4 = 8, PSS (440 - 200) / 4 = 60; stack CPU (60 - 20) / 4 = 10,
    # memory = worker PSS + the other programs' RSS: 60 + (1280 - 1200) / 4 = 80
    assert text == "worker CPU 8.0% of a core, PSS 60 MiB; whole stack CPU 10.0%, memory 80 MiB"


def verdicts(section: Section) -> dict[str, str]:
    return {measure: verdict for measure, _figure, _goal, verdict in section.rows}


def figures(section: Section) -> dict[str, str]:
    return {measure: figure for measure, figure, _goal, _verdict in section.rows}


ALL_USED = {"completions": 40, "transcriptions": 40, "speech": 45, "models": 2}


@pytest.mark.parametrize(
    ("steps", "most", "met", "per_session_at"),
    [
        ([step(10, [0.6] * 20), step(20, [0.7] * 40), step(25, [3.0] * 50)], "20", "met", 20),
        ([step(10, [0.6] * 20), step(20, [0.6] * 39, unanswered=1)], "10", "**not met**", 10),
        ([step(5, [2.5] * 10)], "0", "**not met**", 5),  # the first step missed: its own figures
        ([step(20, [0.6] * 40), step(25, [0.6] * 50)], "25 (every step met the goal: more may fit)", "met", 25),
        # past the goal: a later step that met it again does not count, the first miss ends the capacity
        ([step(5, [0.6] * 10), step(10, [2.6] * 20), step(15, [0.6] * 30)], "5", "**not met**", 5),
    ],
)
def test_the_goal_row_counts_the_largest_step_that_met_the_latency_goal(
    steps: list[Step], most: str, met: str, per_session_at: int
) -> None:
    section = Section("t")
    _summary(section, Ramp(steps, IDLE), 20, ALL_USED)
    assert figures(section)["most concurrent sessions under the goal"] == most
    assert verdicts(section)["most concurrent sessions under the goal"] == met
    assert any(m.startswith(f"per session at {per_session_at} concurrent") for m in figures(section))


def test_a_stack_that_did_not_use_the_vendor_for_everything_is_flagged() -> None:
    section = Section("t")
    offline_tts = {"completions": 40, "transcriptions": 40}
    _summary(section, Ramp([step(20, [0.6] * 40)], IDLE), 20, {**offline_tts, "unknown POST /v1/embeddings": 3})
    assert verdicts(section)["requests the vendor double answered"] == "**not met**"
    assert figures(section)["requests the vendor double answered"] == "40 completions, 40 transcriptions, 0 speech"
    assert any("unknown POST /v1/embeddings" in note for note in section.notes)


def test_the_other_programs_cpu_is_listed_busiest_first_without_the_sums() -> None:
    s = step(3, [0.5])
    s.others.update({"program:letta": usage(41.4, 500), "program:web": usage(0.2, 90), "program:livekit": usage(7, 60)})
    assert cpu_by_program(s) == "letta 41%, livekit 7%, web 0%"
