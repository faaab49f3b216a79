"""`make down && make up`: the assistant still knows a word it was told before (memory persisted).

The word is recalled by a scripted LLM (tests/scripted_llm.py, the test double of a paid vendor) from the
history Letta feeds it, so the answer proves persistence; the offline model could not recall anything.
"""

from __future__ import annotations

import asyncio
import json
import random
import string
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from services.agent.probe import espeak_wav, human_with_agent, until
from services.shared.letta import letta_client
from services.shared.letta_agents import embedding_config
from services.shared.settings import Settings
from tests.helpers import ask_letta, log_tail
from tests.scripted_llm import MODEL, scripted_llm

pytestmark = [pytest.mark.chaos, pytest.mark.lifecycle]
ROOT = Path(__file__).resolve().parents[2]


async def spoken_answer(settings: Settings, agent_id: str, word: str) -> str:
    """Dispatch our worker for the agent, ask by voice, return what the agent said (its transcripts)."""
    async with human_with_agent(settings, agent_id) as (_lk, human):
        await until(human.agent, 30, "the agent to join")
        with tempfile.TemporaryDirectory() as tmp:
            human.say_pcm(espeak_wav("what is the secret word", Path(tmp) / "q.wav"))
        await until(lambda: word in human.transcript_text(), 90, f"the agent to say '{word}'")
        return human.transcript_text()


def test_word_told_before_restart_is_recalled_after(stack: Settings, chaos_figure: Callable[[str], None]) -> None:
    """`make down` and `make up` between telling a word and asking for it"""
    word = "".join(random.choices(string.ascii_lowercase, k=9))
    client = letta_client(stack, timeout=60)
    with scripted_llm() as (url, seen):
        agent = client.agents.create(
            name=f"chaos-recall-{word}",
            agent_type="letta_v1_agent",
            llm_config={"model": MODEL, "model_endpoint_type": "openai", "model_endpoint": url, "context_window": 8192},
            embedding_config=embedding_config(stack),  # type: ignore[arg-type]
            memory_blocks=[{"label": "persona", "value": "I remember."}, {"label": "human", "value": "A tester."}],
        )
        try:
            ask_letta(stack, agent.id, f"Please remember: the secret word is {word}.")
            started = time.monotonic()
            down = subprocess.run(
                [str(stack.stack.dir / "venv/bin/python"), "-m", "services.stack", "down"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert down.returncode == 0, down.stdout + down.stderr
            stopped = time.monotonic()
            up = subprocess.run(["bash", "scripts/up.sh"], cwd=ROOT, capture_output=True, text=True, timeout=600)
            assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-2000:]
            back = time.monotonic()
            seen.clear()
            answer = ask_letta(stack, agent.id, "What is the secret word?")
            assert word in answer, f"not recalled after restart: {answer!r}"
            assert any(word in json.dumps(r["messages"]) for r in seen), "Letta did not send the old turn"
            try:
                spoken = asyncio.run(spoken_answer(stack, agent.id, word))
            except AssertionError as error:
                raise AssertionError(f"{error}\n{log_tail(stack, 'agent')}") from None
            assert word in spoken
            chaos_figure(
                f"down {stopped - started:.0f} s, up {back - stopped:.0f} s; the word recalled in text and by voice"
                f" {time.monotonic() - back:.0f} s after the stack was back"
            )
        finally:
            client.agents.delete(agent.id)
