"""A long conversation is compacted when its session ends, by a process of its own, not on a later turn."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from services.agent.probe import human_with_agent, until
from services.shared.compaction import context_usage
from services.shared.letta import letta_client
from services.shared.letta_agents import create_voice_agent
from services.shared.settings import Settings
from tests.helpers import ask_letta, eventually, worker_log_lines, worker_logs_tail

pytestmark = pytest.mark.stack
# Small, so that a few dozen turns fill it past LETTA_COMPACT_AT, and big enough that LETTA_COMPACT_KEEP of it
# holds the prompt and a few turns (the sliding window of production, not Letta's fall-back to a full summary).
WINDOW = 6144
QUESTIONS = ("What is the capital of France?", "My name is Ada.", "What is two plus two?", "What colour is the sky?")
TURN_S = 240.0  # a busy 2-core machine; a quiet one answers in about a second
COMPACTION_S = 600.0  # the 0.5B model summarising ~1,000 tokens on a busy 2-core machine


def test_a_session_that_ends_over_the_threshold_compacts_its_conversation(stack: Settings) -> None:
    if not stack.llm.is_local:
        pytest.skip("about the offline model")
    at = stack.letta.compact_at
    small = stack.model_copy(update={"llm": stack.llm.model_copy(update={"context_window": WINDOW})})
    client = letta_client(stack, timeout=60)
    agent = create_voice_agent(client, small, f"lvs-test-compact-{uuid.uuid4().hex[:8]}", "A voice assistant.", "")
    try:
        before = context_usage(stack, agent.id)
        for turn in range(120):
            if before.share >= at:
                break
            ask_letta(stack, agent.id, QUESTIONS[turn % len(QUESTIONS)], TURN_S)
            before = context_usage(stack, agent.id)
        assert before.window == WINDOW and before.share >= at, before

        async def session() -> None:
            async with human_with_agent(stack, agent.id) as (_lk, human):
                await until(lambda: human.agent() is not None, 60, "the agent to join")
            # the room is gone: the job ends and its shutdown starts the compaction

        try:
            asyncio.run(session())
            after = eventually(
                lambda: (u := context_usage(stack, agent.id)).current < before.current and u,
                COMPACTION_S,
                interval=1.0,
                what="the conversation to be compacted after the session",
            )
        except AssertionError as error:
            raise AssertionError(f"{error}\n--- agent log ---\n{worker_logs_tail(stack, 60)}") from error
        assert after.share < at - 0.05, (before, after)  # well under: the next session does not compact again

        def compacted_line() -> dict | None:  # logged once the new prompt is warm too
            lines = [json.loads(line) for line in worker_log_lines(stack) if agent.id in line]
            return next((e for e in lines if e.get("msg") == "conversation compacted"), None)

        done = eventually(compacted_line, 120, interval=0.5, what="the compaction's log line")
        assert done["service"] == "compaction" and done["tokens_before"] >= before.current, done
        assert done["tokens_after"] == after.current, (done, after)
        answer = ask_letta(stack, agent.id, "What is the capital of France?", TURN_S)
        assert answer.strip(), "no answer after the compaction"
    finally:
        client.agents.delete(agent.id)
