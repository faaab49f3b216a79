"""Backup and restore round trip on the native stack: an agent and its memory survive.

Create a Letta agent with a memory block, `make backup`, delete the agent, `make restore` (confirmed), and
find the agent and its block again through Letta's API. Runs late (lifecycle): restoring replaces the
database and restarts Letta.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from services.shared.letta import letta_client
from services.shared.letta_agents import create_voice_agent
from services.shared.settings import Settings
from tests.helpers import eventually, log_tail

pytestmark = [pytest.mark.stack, pytest.mark.lifecycle, pytest.mark.destructive]

ROOT = Path(__file__).resolve().parents[2]


def _script(name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / name), *args],
        cwd=ROOT,
        env={**os.environ, "MODE": "native", **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _agent_ids(settings: Settings) -> set[str]:
    return {agent.id for agent in letta_client(settings).agents.list(limit=1000)}


def test_agent_and_memory_block_survive_backup_and_restore(stack: Settings, tmp_path: Path) -> None:
    client = letta_client(stack, timeout=30)
    marker = f"backup-marker-{uuid.uuid4().hex[:10]}"
    agent = create_voice_agent(
        client,
        stack,
        name=f"lvs-test-backup-{marker[-10:]}",
        persona="I am a test persona.",
        human=f"The user's secret word is {marker}.",
    )
    dump = tmp_path / "letta.dump"
    try:
        backup = _script("backup.sh", f"FILE={dump}")
        assert backup.returncode == 0, backup.stdout + backup.stderr + log_tail(stack, "postgres")
        assert dump.stat().st_size > 0 and dump.stat().st_mode & 0o077 == 0, "dump must be owner-only"
        assert "tables" in backup.stdout, backup.stdout  # progress names what was written

        client.agents.delete(agent.id)
        assert agent.id not in _agent_ids(stack)

        refused = _script("restore.sh", f"FILE={dump}")
        assert refused.returncode != 0 and "CONFIRM=yes" in refused.stderr, refused.stdout + refused.stderr
        assert agent.id not in _agent_ids(stack), "restore ran without confirmation"

        safety_before = set((ROOT / "backups").glob("letta-before-restore-*.dump"))
        restored = _script("restore.sh", f"FILE={dump}", env={"CONFIRM": "yes"})
        assert restored.returncode == 0, restored.stdout + restored.stderr + log_tail(stack, "letta")
        safety = set((ROOT / "backups").glob("letta-before-restore-*.dump")) - safety_before
        assert len(safety) == 1, "restore dropped the database without a safety dump first"
        for path in safety:  # the database before the restore (the agent already deleted): ours to remove
            assert path.stat().st_mode & 0o077 == 0
            path.unlink()

        eventually(lambda: agent.id in _agent_ids(stack), timeout=60, what="the agent back in Letta")
        blocks = {b.label: b.value for b in letta_client(stack).agents.blocks.list(agent.id)}
        assert marker in blocks.get("human", ""), blocks
    finally:
        with contextlib.suppress(Exception):  # already gone when the restore failed
            letta_client(stack).agents.delete(agent.id)
