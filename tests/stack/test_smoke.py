"""`make smoke` passes against the stack the tests started, prints one line per check (the dispatch figure with
its limit), and leaves nothing behind: its rooms are gone from LiveKit and its throwaway agent from Letta."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

import pytest
from livekit import api

from services.shared.letta import letta_client
from services.shared.livekit import livekit_api
from services.shared.settings import Settings

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parents[2]


async def rooms_left(settings: Settings, names: list[str]) -> list[str]:
    async with livekit_api(settings) as lk:
        return [r.name for r in (await lk.room.list_rooms(api.ListRoomsRequest(names=names))).rooms]


def test_smoke_passes_and_cleans_up(stack: Settings) -> None:
    before = {a.id for a in letta_client(stack).agents.list(limit=1000)}
    result = subprocess.run(
        [str(stack.stack.dir / "venv/bin/python"), "-m", "services.smoke", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(result.stdout)
    failed = [c for c in report["checks"] if not c["ok"]]
    assert not failed and result.returncode == 0, json.dumps(failed, indent=2)
    names = [c["check"] for c in report["checks"]]
    assert names[0] == "health endpoints" and names[-1] == "cleanup"
    assert report["passed"] == len(names)
    details = {c["check"]: c["detail"] for c in report["checks"]}
    limit = stack.smoke.dispatch_limit
    assert re.search(rf"after the human \(limit SMOKE_DISPATCH_LIMIT={limit:g}s\)", details["dispatch (human first)"])

    # Checked from outside too: the session room smoke reported is gone, and no new Letta agent is left.
    rooms = re.findall(rf"{re.escape(stack.recovery.room_prefix)}[0-9a-f]{{16}}", json.dumps(report))
    assert rooms, f"no room named in the report: {details}"
    assert asyncio.run(rooms_left(stack, rooms)) == []
    new_agents = [a.name for a in letta_client(stack).agents.list(limit=1000) if a.id not in before]
    assert not [n for n in new_agents if n and n.startswith("smoke-")], new_agents
