"""Compaction between sessions: when it is due, and what the command says when it cannot run."""

from __future__ import annotations

import pytest

from services.shared import compaction
from services.shared.compaction import Usage, needs_compaction, start_between_sessions
from services.shared.settings import LettaSettings, Settings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("usage", "at", "due"),
    [
        (Usage(4916, 8192), 0.6, True),
        (Usage(4915, 8192), 0.6, False),
        (Usage(8000, 8192), 0.0, False),  # 0: off
        (Usage(10, 0), 0.6, False),  # Letta did not say its window
    ],
)
def test_needs_compaction(usage: Usage, at: float, due: bool) -> None:
    assert needs_compaction(usage, at) is due


def test_no_process_starts_when_letta_cannot_tell(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[object] = []
    monkeypatch.setattr(compaction.subprocess, "Popen", lambda *a, **k: started.append(a))
    settings = Settings(letta=LettaSettings(base_url="http://127.0.0.1:9"))
    assert start_between_sessions(settings, "agent-1") is None
    assert started == []


def test_a_process_starts_only_over_the_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[list[str]] = []
    monkeypatch.setattr(compaction.subprocess, "Popen", lambda args, **_: started.append(args) or "proc")
    settings = Settings(letta=LettaSettings(compact_at=0.6))
    monkeypatch.setattr(compaction, "context_usage", lambda *_a, **_k: Usage(1000, 8192))
    assert start_between_sessions(settings, "agent-1") is None
    monkeypatch.setattr(compaction, "context_usage", lambda *_a, **_k: Usage(6000, 8192))
    assert start_between_sessions(settings, "agent-1") == "proc"
    assert started and started[-1][-2:] == ["services.shared.compaction", "agent-1"]


def test_the_command_names_a_bad_agent_id(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        compaction.main(["voice-assistant"])
    assert exit_.value.code == 2
    assert "agent_id" in capsys.readouterr().err


def test_the_kept_share_must_stay_under_the_threshold() -> None:
    with pytest.raises(ValueError, match="LETTA_COMPACT_KEEP"):
        LettaSettings(compact_at=0.3, compact_keep=0.25)
    assert LettaSettings(compact_at=0, compact_keep=0.5).compact_keep == 0.5  # compaction off: no constraint
