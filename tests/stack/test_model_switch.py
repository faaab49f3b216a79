"""Switching the model and back: every `make up` ends healthy and the assistant answers on each model.

Letta 0.16.8 soft-deletes a model its provider stops serving and never revives it, and keeps the base URL its
provider had at first start: without the stack's provider sync (config/letta-provider-sync.sql) the way back
failed with "Letta offers no model", and a new OPENAI_BASE_URL was listed at the old server's address.
These tests edit the project's .env (restored and applied afterwards by the env_file fixture).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.shared.letta import letta_client
from services.shared.settings import LOCAL_MODEL_FILE, Settings
from services.stack.supervisor import Supervisor
from tests.helpers import add_env_lines, ask_letta, make_up
from tests.scripted_llm import MODEL as SCRIPTED_MODEL
from tests.scripted_llm import scripted_llm

# Three model switches: each restarts llm, Letta, the workers and web (~1 min on a quiet
# 2-core machine, ~2.5 min at load 16), more than the suite's per-test hang limit.
pytestmark = [pytest.mark.lifecycle, pytest.mark.timeout(900)]
ALIAS = "qwen-alias"  # the default GGUF served under another name: a "bigger local GGUF" without a download


def default_agent(settings: Settings) -> Any:
    client = letta_client(settings, timeout=60)
    agents = list(client.agents.list(name=settings.letta.default_agent_name, limit=1))
    assert agents, "the default agent is gone"
    return agents[0]


def up_and_answer(settings: Settings, model: str, endpoint: str) -> tuple[str, str]:
    """`make up` ends healthy, the default agent is on (model, endpoint) and answers a turn; (output, reply)."""
    up = make_up()
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-1000:]
    agent = default_agent(settings)
    assert (agent.llm_config.model, agent.llm_config.model_endpoint.rstrip("/")) == (model, endpoint)
    reply = ask_letta(settings, agent.id, "What is the capital of France?")
    assert reply.strip(), f"no answer from {model}"
    return up.stdout, reply


def pids(settings: Settings) -> dict[str, int]:
    """Running programs and their pids."""
    return {name: p.pid for name, p in Supervisor(settings).info().items() if p.state == "RUNNING"}


def served_models(settings: Settings) -> list[str]:
    models = httpx.get(f"{settings.llm.local_base_url}/models", timeout=10).json()
    return [m["id"] for m in models["data"]]


def test_a_bigger_local_gguf_then_an_openai_compatible_server_and_back(stack: Settings, env_file: Path) -> None:
    """Default -> another local GGUF -> an OpenAI-compatible server -> default, each applied by `make up`. One
    round trip covers both ways back: the last `make up` moves the provider home and revives the default model
    that the first switch had Letta soft-delete."""
    local = stack.llm.local_base_url
    default = stack.llm.model_name
    original = env_file.read_text() if env_file.exists() else ""
    agent = default_agent(stack)
    assert (agent.llm_config.model, agent.llm_config.model_endpoint.rstrip("/")) == (default, local)

    add_env_lines(env_file, f"LLM_GGUF_PATH={stack.stack.cache / 'models' / LOCAL_MODEL_FILE}", f"LLM_MODEL={ALIAS}")
    out, _ = up_and_answer(stack, ALIAS, local)
    assert "moved" in out and ALIAS in served_models(stack), out[-2000:]

    with scripted_llm() as (url, seen):
        before = pids(stack)
        env_file.write_text(original)
        add_env_lines(env_file, f"OPENAI_BASE_URL={url}", "OPENAI_API_KEY=sk-scripted", f"LLM_MODEL={SCRIPTED_MODEL}")
        out, reply = up_and_answer(stack, SCRIPTED_MODEL, url)
        after = pids(stack)
        # the provider change is applied where it is read, and named (never its values)
        assert {name for name in ("postgres", "livekit", "recovery") if after[name] != before[name]} == set(), out
        assert after["letta"] != before["letta"] and "llm" not in after and "embeddings" not in after, after
        restart = next(line for line in out.splitlines() if line.startswith("==> Restarting letta"))
        assert "OPENAI_BASE_URL" in restart and "sk-scripted" not in out and url not in restart
        assert f"now at {url}" in out, "Letta's provider was not moved to the new base URL: " + out[-2000:]
        assert reply.strip() == "Noted.", f"the answer did not come from the scripted server: {reply!r}"
        assert any("capital of France" in json.dumps(r["messages"]) for r in seen), "Letta never called the server"

        env_file.write_text(original)
        calls = len(seen)
        out, _ = up_and_answer(stack, default, local)
        assert f"now at {local}" in out, out[-2000:]
        assert f"revived openai-proxy/{default}" in out, "the default model was not revived: " + out[-2000:]
        assert served_models(stack) == [default]
        assert len(seen) == calls, "back on the local model, Letta still called the scripted server"
