"""`make up` twice changes nothing; `make down` leaves no process; memory survives a restart.

Memory is checked through Letta's API after the restart: a word told in a turn is in the agent's message
history and Letta feeds it back to the model, a word written to core memory is in its block, a word stored in
archival memory is among its passages. The turn goes to a scripted OpenAI-compatible server
(tests/scripted_llm.py, the double of a paid vendor), so it is instant and the recall is checkable.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from letta_client import Letta

from services.shared.letta import letta_client
from services.shared.letta_agents import embedding_config
from services.shared.settings import Settings
from services.stack.health import port_in_use
from services.stack.programs import programs
from services.stack.supervisor import Supervisor
from tests.helpers import ask_letta
from tests.scripted_llm import MODEL, scripted_llm

pytestmark = pytest.mark.lifecycle
ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=ROOT, capture_output=True, text=True, check=False, timeout=600)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def descendants(pid: int) -> set[int]:
    out = run("ps", "-e", "-o", "pid=,ppid=").stdout.split()
    children: dict[int, list[int]] = {}
    for child, parent in zip(out[::2], out[1::2], strict=True):
        children.setdefault(int(parent), []).append(int(child))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def remember(client: Letta, settings: Settings, agent_id: str, words: dict[str, str]) -> None:
    """Tell the agent a word (a turn), write one to its core memory and one to its archival memory."""
    answer = ask_letta(settings, agent_id, f"Please remember: the secret word is {words['told']}.")
    assert answer.strip(), "the scripted model gave no answer"
    client.agents.blocks.update("human", agent_id=agent_id, value=f"The tester. Code word: {words['core']}.")
    client.agents.passages.create(agent_id, text=f"The archived word is {words['archival']}.")


def memory_problems(
    client: Letta, settings: Settings, agent_id: str, words: dict[str, str], seen: list[dict[str, Any]]
) -> list[str]:
    """What of `remember`'s memory Letta no longer has (read through its API)."""
    problems = []
    history = " ".join(
        str(m.content) for m in client.agents.messages.list(agent_id, limit=100) if hasattr(m, "content")
    )
    if words["told"] not in history:
        problems.append("the word told in a turn is not in the message history")
    seen.clear()
    if words["told"] not in ask_letta(settings, agent_id, "What is the secret word?"):
        problems.append("the word told before is not recalled")
    if not any(words["told"] in json.dumps(r["messages"]) for r in seen):
        problems.append("Letta did not send the earlier turn to the model")
    blocks = {b.label: b.value for b in client.agents.blocks.list(agent_id)}
    if words["core"] not in blocks.get("human", ""):
        problems.append(f"the core-memory word is not in the human block: {blocks.get('human')!r}")
    if not any(words["archival"] in p.text for p in client.agents.passages.list(agent_id)):
        problems.append("the archival-memory word is not among the passages")
    return problems


def test_up_again_changes_nothing_and_down_up_keeps_memory(stack: Settings) -> None:
    client = letta_client(stack, timeout=60)
    name = f"lifecycle-{uuid.uuid4().hex[:8]}"
    words = {k: f"{k[:4]}{uuid.uuid4().hex[:8]}" for k in ("told", "core", "archival")}
    with scripted_llm() as (url, seen):
        created = client.agents.create(
            name=name,
            agent_type="letta_v1_agent",
            llm_config={"model": MODEL, "model_endpoint_type": "openai", "model_endpoint": url, "context_window": 8192},
            embedding_config=embedding_config(stack),  # type: ignore[arg-type]
            memory_blocks=[{"label": "persona", "value": "I test persistence."}, {"label": "human", "value": "x"}],
        )
        try:
            remember(client, stack, created.id, words)
            assert memory_problems(client, stack, created.id, words, seen) == [], "memory not kept even before"
            sup = Supervisor(stack)
            before = {n: p.pid for n, p in sup.info().items()}
            supervisord_pid = int((stack.stack.run_dir / "supervisord.pid").read_text())

            again = run("bash", "scripts/up.sh")
            assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
            assert {n: p.pid for n, p in sup.info().items()} == before, "a second 'make up' restarted services"
            default_agents = list(client.agents.list(name=stack.letta.default_agent_name))
            assert len(default_agents) == 1

            tree = descendants(supervisord_pid) | {supervisord_pid}
            down = run(str(stack.stack.dir / "venv/bin/python"), "-m", "services.stack", "down")
            assert down.returncode == 0, down.stdout + down.stderr
            assert not [pid for pid in tree if alive(pid)], "processes left after 'make down'"
            assert not [p.name for p in programs(stack) if port_in_use(p.port)], "ports still taken after 'make down'"

            up = run("bash", "scripts/up.sh")
            assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-2000:]
            client = letta_client(stack, timeout=60)
            names = {a.name: a.id for a in client.agents.list(limit=1000)}
            assert names.get(name) == created.id, "an agent created before 'make down' is gone after 'make up'"
            problems = memory_problems(client, stack, created.id, words, seen)
            assert problems == [], f"memory lost over 'make down' and 'make up': {problems}"
        finally:
            letta_client(stack, timeout=60).agents.delete(created.id)
