"""Unit tests see only the settings they set: never the developer's .env or the stack's generated secrets."""

from __future__ import annotations

import pytest

from services.shared.settings import SECTIONS, Settings


@pytest.fixture(autouse=True)
def settings_without_env_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read no env file here (a test that wants one sets ``env_file`` itself)."""
    for section in SECTIONS.values():
        monkeypatch.setitem(section.model_config, "env_file", None)
    monkeypatch.setitem(Settings.model_config, "env_file", None)
