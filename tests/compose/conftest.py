"""The compose tests' process exit: pytest's own status, never the abort of livekit's FFI runtime."""

from __future__ import annotations

import os
import sys

import pytest

_STATUS = pytest.StashKey[int]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # only a run of the compose tests (this conftest is also collected by the native run's `tests/`)
    if any(item.get_closest_marker("compose") for item in session.items):
        session.config.stash[_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # After the livekit server it talked to was stopped (make down), livekit.rtc's Rust runtime aborted the
    # interpreter at exit ("panic in a function that cannot unwind", SIGABRT) once every test had passed:
    # leave with pytest's status before that teardown.
    if "livekit.rtc" in sys.modules and _STATUS in config.stash:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(config.stash[_STATUS])
