"""`make up` warms the offline model in the background while the workers start, and reports the outcome."""

from __future__ import annotations

import threading

import pytest

from services.shared import prompt_warmup
from services.shared.prompt_warmup import PromptWarming
from services.shared.settings import LLMSettings, Settings

pytestmark = pytest.mark.unit


def settings(**llm: str) -> Settings:
    return Settings(_env_file=None, llm=LLMSettings(_env_file=None, **llm))


def test_a_cloud_model_needs_no_warming() -> None:
    assert PromptWarming.start(settings(OPENAI_API_KEY="sk-x"), "agent-1") is None


def test_the_warm_up_runs_beside_the_caller_and_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    calls: list[str] = []

    def warm(_settings: Settings, agent_id: str) -> str:
        calls.append(agent_id)
        release.wait(5)
        return "warmed in 1.0s"

    monkeypatch.setattr(prompt_warmup, "try_warm_prompt", warm)
    warming = PromptWarming.start(settings(provider="local"), "agent-1")
    assert warming is not None
    assert warming.result(timeout=0.05) == "still running", "start() must not wait for the warm-up"
    release.set()
    assert warming.result() == "warmed in 1.0s" and calls == ["agent-1"]


def test_a_job_start_warms_once_per_agent_and_minute(tmp_path) -> None:
    marker = tmp_path / "prompt-warm" / "agent-1"
    assert prompt_warmup.claim_warm_up(marker, now=1000.0, every=60.0), "the first job warms"
    assert not prompt_warmup.claim_warm_up(marker, now=1030.0, every=60.0), "a second job 30 s later does not"
    assert prompt_warmup.claim_warm_up(marker, now=1061.0, every=60.0), "a job after the minute warms again"
    assert not prompt_warmup.claim_warm_up(marker, now=1062.0, every=60.0)
    assert oct(marker.parent.stat().st_mode & 0o777) == "0o700"
