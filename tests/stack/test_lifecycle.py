"""`make up` twice changes nothing; `make down` leaves no process; memory survives a restart."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from services.shared.letta import letta_client
from services.shared.settings import Settings
from services.stack.health import port_in_use
from services.stack.programs import programs
from services.stack.supervisor import Supervisor

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


def test_up_again_changes_nothing_and_down_up_keeps_memory(stack: Settings) -> None:
    client = letta_client(stack)
    name = f"lifecycle-{uuid.uuid4().hex[:8]}"
    from services.shared.letta_agents import create_voice_agent

    created = create_voice_agent(client, stack, name, "I test persistence.", "The tester.")
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
    names = {a.name: a.id for a in letta_client(stack).agents.list(limit=1000)}
    assert names.get(name) == created.id, "an agent created before 'make down' is gone after 'make up'"
    client.agents.delete(created.id)
