"""Fixtures: `stack` makes sure the native stack is up for the whole test session (and stops what it started);
`chaos_figure` records a chaos scenario's figure for docs/benchmarks.md."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from services.shared.rtc_exit import exit_process, rtc_runtime_started
from services.shared.settings import Settings, get_settings
from services.stack.health import probe
from services.stack.programs import programs
from services.stack.supervisor import Supervisor
from tests.chaos_report import REPORT_ENV, ChaosLog, scenario_name

ROOT = Path(__file__).resolve().parents[1]
# scripts/test.sh sets it: 1 when it started the stack for this run, 0 when it found one running.
OWNS_STACK_ENV = "LVS_TEST_OWNS_STACK"
_STACK_STARTED_HERE = pytest.StashKey[bool]()
_SESSION = pytest.StashKey[pytest.Session]()


def _all_healthy(settings: Settings) -> bool:
    return all(probe(p.health, timeout=1.0) for p in programs(settings))


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Iterator[Settings]:
    """The settings of a running native stack.

    When supervisord is not running, the stack is started with scripts/up.sh and stopped at the end.
    When it is already running (a developer's stack), scripts/up.sh (idempotent) only brings missing
    services back, and the stack is left running.
    """
    settings = get_settings()
    started_here = not Supervisor(settings).running()
    request.config.stash[_STACK_STARTED_HERE] = started_here
    if started_here or not _all_healthy(settings):
        result = subprocess.run(["bash", str(ROOT / "scripts" / "up.sh")], cwd=ROOT, check=False, timeout=1800)
        if result.returncode != 0:
            if started_here:
                subprocess.run(
                    [str(ROOT / ".stack/venv/bin/python"), "-m", "services.stack", "down"], cwd=ROOT, timeout=1800
                )
            pytest.fail("the native stack did not start (see the output of scripts/up.sh above)")
    yield settings
    if started_here:
        subprocess.run(
            [str(ROOT / ".stack/venv/bin/python"), "-m", "services.stack", "down"], cwd=ROOT, check=False, timeout=1800
        )


def owns_stack(config: pytest.Config) -> bool:
    """True when this test run (or scripts/test.sh around it) started the stack it tests."""
    if os.environ.get(OWNS_STACK_ENV) in ("0", "1"):
        return os.environ[OWNS_STACK_ENV] == "1"
    return config.stash.get(_STACK_STARTED_HERE, False)


@pytest.fixture(autouse=True)
def _destructive_only_on_own_stack(request: pytest.FixtureRequest) -> None:
    """Tests marked ``destructive`` (backup/restore, data deletion) never run on a stack someone else started."""
    if request.node.get_closest_marker("destructive") is None:
        return
    request.getfixturevalue("stack")
    if not owns_stack(request.config):
        pytest.skip(f"destructive: runs only on a stack this test run started ({OWNS_STACK_ENV}=1 overrides)")


# Tests run unit first, then against the running stack, then the ones that stop and restart it, and the
# browser tests last: Playwright's sync API keeps an event loop in the main thread, so asyncio.run() fails after it.
_ORDER = ("unit", "stack", "cluster", "chaos", "lifecycle", "browser")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        marks = {m.name for m in item.iter_markers()}
        return max((i for i, name in enumerate(_ORDER) if name in marks), default=0)

    items.sort(key=rank)


_CHAOS_LOG = pytest.StashKey[ChaosLog]()


def _chaos_log(config: pytest.Config) -> ChaosLog:
    if _CHAOS_LOG not in config.stash:
        config.stash[_CHAOS_LOG] = ChaosLog()
    return config.stash[_CHAOS_LOG]


def _scenario(item: pytest.Item) -> str:
    return scenario_name(getattr(getattr(item, "function", None), "__doc__", None), item.name)


@pytest.fixture
def chaos_figure(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record a figure of this chaos scenario (printed; in the Chaos section of docs/benchmarks.md with
    CHAOS_REPORT=1). The scenario is the first line of the test's docstring."""
    log, item = _chaos_log(request.config), request.node

    def record(figure: str) -> None:
        print(f"chaos figure: {figure}", flush=True)
        log.figure(item.nodeid, _scenario(item), figure)

    return record


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    log = _chaos_log(item.config)
    if item.get_closest_marker("chaos") is not None or item.nodeid in log.scenarios:
        log.report(item.nodeid, _scenario(item), report.when, report.outcome)
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    if os.environ.get(REPORT_ENV) == "1":
        _chaos_log(session.config).write()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Once pytest has reported everything, a run whose tests used livekit.rtc exits without interpreter
    teardown (services/shared/rtc_exit.py: the native runtime can abort the process, exit 134, after 101
    passed tests). The exit status stays pytest's own."""
    if not rtc_runtime_started():
        return
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.stop_global_capturing()  # writes out what it still holds; pytest's own cleanup would do it later
    session = config.stash.get(_SESSION, None)
    exit_process(int(session.exitstatus) if session is not None else int(pytest.ExitCode.INTERNAL_ERROR))


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_SESSION] = session
