"""Fixtures of the stack tests that change the stack's settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.shared.settings import ENV_FILE, Settings
from tests.helpers import make_up


@pytest.fixture
def env_file(stack: Settings) -> Iterator[Path]:
    """The project's .env; whatever the test writes, the original comes back and is applied."""
    original = ENV_FILE.read_text() if ENV_FILE.exists() else None
    yield ENV_FILE
    if original is None:
        ENV_FILE.unlink(missing_ok=True)
    else:
        ENV_FILE.write_text(original)
    restored = make_up()
    assert restored.returncode == 0, restored.stdout[-3000:]
