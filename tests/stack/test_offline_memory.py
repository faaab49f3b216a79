"""The offline model keeps the recent conversation: a name told two turns earlier is answered (Letta + Qwen)."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from services.shared.letta import letta_client, letta_headers
from services.shared.letta_agents import create_voice_agent
from services.shared.prompt_warmup import try_warm_prompt
from services.shared.settings import Settings

pytestmark = pytest.mark.stack
TURN_S = 240.0  # a busy 2-core machine; a quiet one answers in about a second


def ask(settings: Settings, agent_id: str, text: str) -> str:
    """One turn on Letta's voice contract (streamed chat completions); the reply's text."""
    body = {"model": agent_id, "stream": True, "messages": [{"role": "user", "content": text}]}
    out = []
    url = f"{settings.letta.openai_url}/chat/completions"
    with httpx.stream("POST", url, json=body, headers=letta_headers(settings), timeout=TURN_S) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                for choice in json.loads(line[6:]).get("choices", []):
                    out.append(choice.get("delta", {}).get("content") or "")
    return "".join(out)


def test_a_name_told_two_turns_ago_is_answered(stack: Settings) -> None:
    if not stack.llm.is_local:
        pytest.skip("about the offline model")
    client = letta_client(stack, timeout=60)
    agent = create_voice_agent(client, stack, f"lvs-test-memory-{uuid.uuid4().hex[:8]}", "A voice assistant.", "")
    try:
        try_warm_prompt(stack, agent.id, timeout=TURN_S)
        replies = [ask(stack, agent.id, text) for text in ("My name is Ada.", "What is the capital of France?")]
        answer = ask(stack, agent.id, "What is my name?")
        assert "ada" in answer.lower(), f"{replies} then {answer!r}"
        assert "paris" in replies[1].lower(), replies
        assert not any("{" in r for r in [*replies, answer]), "tool-call text in a reply"
    finally:
        client.agents.delete(agent.id)
