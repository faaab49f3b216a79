"""The request handler's own claims: a job that started and ended between two requests frees its slot."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest

from services.agent import requests
from services.shared.settings import AgentSettings, LiveKitSettings, Settings, StackSettings
from tests.unit.test_agent_room_claims import FakeRequest

pytestmark = pytest.mark.unit


def running(room: str, job_id: str) -> SimpleNamespace:
    return SimpleNamespace(job=SimpleNamespace(room=SimpleNamespace(name=room), id=job_id))


def handler(tmp_path: Path, server: SimpleNamespace) -> requests.RequestHandler:
    settings = Settings(
        stack=StackSettings(dir=tmp_path),
        agent=AgentSettings(max_jobs=1),
        livekit=LiveKitSettings(url="ws://127.0.0.1:17880", api_key="k-test", api_secret="s" * 32),
    )
    h = requests.RequestHandler(settings, server)  # type: ignore[arg-type]

    async def empty_room(room: str) -> list:
        return []

    h._snapshot = empty_room  # type: ignore[method-assign]
    return h


def test_a_short_job_frees_its_slot_once_it_ends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(requests, "WATCH_EVERY_S", 0.01)
    server = SimpleNamespace(active_jobs=[])
    h = handler(tmp_path, server)

    async def scenario() -> tuple[str | None, str | None]:
        first = FakeRequest("room-1", "AJ_1")
        await h(first)
        server.active_jobs = [running("room-1", "AJ_1")]  # the job runs briefly ...
        await asyncio.sleep(0.1)
        server.active_jobs = []  # ... and ends before any other request comes
        await asyncio.sleep(0.1)
        second = FakeRequest("room-2", "AJ_2")
        await h(second)  # one job slot: free again
        assert h._watcher is not None
        h._watcher.cancel()
        return first.answer, second.answer

    assert asyncio.run(scenario()) == ("accept", "accept")


def test_a_claim_whose_job_has_not_started_holds_the_slot(tmp_path: Path) -> None:
    h = handler(tmp_path, SimpleNamespace(active_jobs=[]))

    async def scenario() -> tuple[str | None, str | None]:
        first, second = FakeRequest("room-1", "AJ_1"), FakeRequest("room-2", "AJ_2")
        await h(first)
        await h(second)  # AJ_1 may still be waiting for a job process: the only slot is taken
        assert h._watcher is not None
        h._watcher.cancel()
        return first.answer, second.answer

    assert asyncio.run(scenario()) == ("accept", "reject")
