"""The local llama.cpp server's threads: prompt reading and token writing are set apart."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.llm.__main__ import server_params
from services.shared.settings import Settings, describe_error

pytestmark = pytest.mark.unit


def test_answers_are_written_on_one_thread_and_prompts_read_on_two_by_default() -> None:
    params = server_params(Settings())
    assert (params.cpuparams.n_threads, params.cpuparams_batch.n_threads) == (1, 2)


def test_each_thread_count_follows_its_own_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_THREADS", "4")
    monkeypatch.setenv("LLM_DECODE_THREADS", "3")
    params = server_params(Settings())
    assert (params.cpuparams.n_threads, params.cpuparams_batch.n_threads) == (3, 4)


def test_no_decode_threads_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_DECODE_THREADS", "0")
    with pytest.raises(ValidationError) as error:
        Settings()
    assert "LLM_DECODE_THREADS" in describe_error(error.value)
