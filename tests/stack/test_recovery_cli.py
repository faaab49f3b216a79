"""The recovery CLI against the real livekit-server: `rooms` lists rooms, `sweep --once --dry-run` decides and
changes nothing, `sweep --once` deletes an empty room of ours and spares a room that is not ours."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from livekit import api

from services.agent.probe import delete_room
from services.shared.livekit import livekit_api, room_metadata
from services.shared.settings import Settings
from tests.helpers import eventually

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parents[2]
EMPTY_AFTER_S = 1.0  # the CLI's own threshold here (the running sidecar keeps its 60 s and stays out of it)


def recovery(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RECOVERY_EMPTY_ROOM_AFTER": str(EMPTY_AFTER_S)}
    return subprocess.run(
        [str(settings.stack.dir / "venv/bin/python"), "-m", "services.recovery", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def existing(settings: Settings, names: list[str]) -> set[str]:
    async with livekit_api(settings) as lk:
        return {r.name for r in (await lk.room.list_rooms(api.ListRoomsRequest(names=names))).rooms}


async def create(settings: Settings, ours: str, foreign: str) -> None:
    async with livekit_api(settings) as lk:
        await lk.room.create_room(api.CreateRoomRequest(name=ours, metadata=room_metadata("agent-cli-test")))
        await lk.room.create_room(api.CreateRoomRequest(name=foreign))


async def remove(settings: Settings, names: list[str]) -> None:
    async with livekit_api(settings) as lk:
        for name in names:
            await delete_room(lk, name)


def test_rooms_and_sweep_once_against_livekit(stack: Settings) -> None:
    tag = uuid.uuid4().hex[:10]
    ours, foreign = f"{stack.recovery.room_prefix}cli-{tag}", f"someone-else-{tag}"
    asyncio.run(create(stack, ours, foreign))
    try:
        listed = recovery(stack, "rooms")
        assert listed.returncode == 0, listed.stdout + listed.stderr
        assert ours in listed.stdout and foreign in listed.stdout, listed.stdout

        def swept(*flags: str) -> subprocess.CompletedProcess[str] | None:
            """One sweep; the result once it names our empty room among its actions (it is old enough)."""
            out = recovery(stack, "sweep", "--once", *flags)
            assert out.returncode == 0, out.stdout + out.stderr
            actions = out.stdout.split("actions carried out:" if not flags else "nothing changed:", 1)[-1]
            return out if ours in actions else None

        dry = eventually(lambda: swept("--dry-run"), 30, what=f"a dry-run sweep to plan deleting {ours}")
        assert "empty" in dry.stdout, dry.stdout
        assert asyncio.run(existing(stack, [ours, foreign])) == {ours, foreign}, "a dry run changed something"

        done = eventually(swept, 30, what=f"a sweep to delete {ours}")
        assert foreign not in done.stdout.split("actions carried out:", 1)[-1], done.stdout
        assert asyncio.run(existing(stack, [ours, foreign])) == {foreign}, "the empty room of ours is still there"
    finally:
        asyncio.run(remove(stack, [ours, foreign]))
