"""Fixtures: `stack` makes sure the native stack is up for the whole test session (and stops what it started)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.shared.settings import Settings, get_settings
from services.stack.health import probe
from services.stack.programs import programs
from services.stack.supervisor import Supervisor

ROOT = Path(__file__).resolve().parents[1]


def _all_healthy(settings: Settings) -> bool:
    return all(probe(p.health, timeout=1.0) for p in programs(settings))


@pytest.fixture(scope="session")
def stack() -> Iterator[Settings]:
    """The settings of a running native stack.

    When supervisord is not running, the stack is started with scripts/up.sh and stopped at the end.
    When it is already running (a developer's stack), scripts/up.sh (idempotent) only brings missing
    services back, and the stack is left running.
    """
    settings = get_settings()
    started_here = not Supervisor(settings).running()
    if started_here or not _all_healthy(settings):
        result = subprocess.run(["bash", str(ROOT / "scripts" / "up.sh")], cwd=ROOT, check=False)
        if result.returncode != 0:
            if started_here:
                subprocess.run([str(ROOT / ".stack/venv/bin/python"), "-m", "services.stack", "down"], cwd=ROOT)
            pytest.fail("the native stack did not start (see the output of scripts/up.sh above)")
    yield settings
    if started_here:
        subprocess.run([str(ROOT / ".stack/venv/bin/python"), "-m", "services.stack", "down"], cwd=ROOT, check=False)


# Tests run unit first, then against the running stack, then the ones that stop and restart it, and the
# browser tests last: Playwright's sync API keeps an event loop in the main thread, so asyncio.run() fails after it.
_ORDER = ("unit", "stack", "chaos", "lifecycle", "browser")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        marks = {m.name for m in item.iter_markers()}
        return max((i for i, name in enumerate(_ORDER) if name in marks), default=0)

    items.sort(key=rank)
