"""Spoken questions get right answers from the offline models (Whisper, Qwen2.5-Coder-0.5B through Letta, Piper).

The questions are spoken by espeak-ng voices that tuned nothing (the unit tests use en-us+m3, the other
stack tests en-us+f2). Whisper tiny.en mishears some espeak-ng voices (2026-12-01, 6 voices x 2 questions:
en-us+f4 "What is the capital and friends?", en-gb+m2 "How many may not know in a week?"); these two were
heard right. Assertions are on the agent's own transcript (not the human's, not the spoken sorry).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from services.agent.probe import Human, default_agent_id, espeak_wav, human_with_agent, until
from services.agent.voice import SORRY_EMPTY, SORRY_INTERRUPTED, SORRY_UNAVAILABLE
from services.shared.settings import Settings
from tests.helpers import log_tail

pytestmark = pytest.mark.stack

JOIN_S = 60.0
ANSWER_S = 120.0  # a cold first prompt on a busy 2-core machine
SORRIES = (SORRY_EMPTY, SORRY_INTERRUPTED, SORRY_UNAVAILABLE)


def said_by(human: Human, agent: bool, prefix: str) -> str:
    """Everything the agent (or the human, as the agent heard it) said, lower-cased."""
    return " ".join(text for who, text in human.transcripts if who.startswith(prefix) == agent).lower()


async def ask(settings: Settings, tmp: Path, question: str, voice: tuple[str, int], heard: list[str]) -> Human:
    speech = espeak_wav(question, tmp / "question.wav", voice)
    prefix = settings.agent.identity_prefix
    async with human_with_agent(settings, default_agent_id(settings)) as (_lk, human):
        await until(lambda: human.agent() is not None, JOIN_S, "the agent to join")
        await until(lambda: said_by(human, True, prefix), JOIN_S, "the greeting's transcript")
        await until(lambda: human.agent_state() == "listening", JOIN_S, "the agent to listen")
        greeting = len(human.transcripts)
        human.say_pcm(speech)
        await until(
            lambda: all(word in said_by(human, False, prefix) for word in heard),
            ANSWER_S,
            lambda: f"the words {heard} in the human's transcript: {human.transcripts}",
        )
        await until(
            lambda: any(who.startswith(prefix) for who, _ in human.transcripts[greeting:]),
            ANSWER_S,
            lambda: f"the agent's answer: {human.transcripts}",
        )
        await until(lambda: human.agent_state() == "listening", ANSWER_S, "the agent to finish speaking")
        return human


@pytest.mark.parametrize(
    ("question", "voice", "heard", "answer"),
    [
        ("What is the capital of France?", ("en-us", 150), ["capital", "france"], "paris"),
        ("How many days are there in a week?", ("en-us+m1", 150), ["days", "week"], "seven"),
    ],
    ids=["capital-of-france", "days-in-a-week"],
)
def test_a_spoken_question_is_answered_right(
    stack: Settings, tmp_path: Path, question: str, voice: tuple[str, int], heard: list[str], answer: str
) -> None:
    try:
        human = asyncio.run(ask(stack, tmp_path, question, voice, heard))
    except AssertionError as exc:
        pytest.fail(f"{exc}\n--- agent log ---\n{log_tail(stack, 'agent', 40)}")
    reply = said_by(human, True, stack.agent.identity_prefix)
    print(f"transcripts: {human.transcripts}")  # shown with -s
    assert not any(sorry.lower() in reply for sorry in SORRIES), reply
    digits = {"seven": "7"}
    assert answer in reply or digits.get(answer, answer) in reply, f"'{answer}' not in the agent's words: {reply}"
