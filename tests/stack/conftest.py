"""Fixtures of the stack tests that change the stack's settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.shared.settings import ENV_FILE, Settings
from tests.helpers import env_file_kept, make_up


@pytest.fixture
def env_file(stack: Settings) -> Iterator[Path]:
    """The project's .env; whatever the test writes, the original comes back and is applied."""
    with env_file_kept(ENV_FILE):
        yield ENV_FILE
    restored = make_up()
    assert restored.returncode == 0, restored.stdout[-3000:]
