"""Files the stack left readable (letta.log 0644, Letta's config with the DB URI 0644) become owner-only."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from services.shared.settings import Settings, StackSettings
from services.stack.private_files import make_private, tightened_mode

pytestmark = pytest.mark.unit


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_tightened_mode_keeps_directory_search_only() -> None:
    assert tightened_mode(stat.S_IFREG | 0o644) == 0o600
    assert tightened_mode(stat.S_IFREG | 0o755) == 0o700
    assert tightened_mode(stat.S_IFDIR | 0o755) == 0o711  # PostgreSQL's user still traverses it
    assert tightened_mode(stat.S_IFDIR | 0o777) == 0o711
    assert tightened_mode(stat.S_IFDIR | 0o700) == 0o700


def test_make_private_tightens_data_logs_run_and_secrets_only(tmp_path: Path) -> None:
    settings = Settings(stack=StackSettings(dir=tmp_path / ".stack"))
    s = settings.stack
    config = s.data_dir / "letta" / ".letta" / "config"
    log = s.log_dir / "letta.log"
    venv_file = s.dir / "venv" / "bin" / "python"
    for path in (config, log, venv_file, s.run_dir / "livekit.yaml"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
        path.chmod(0o644)
    (s.run_dir / "pg").mkdir(mode=0o777)
    (s.run_dir / "pg").chmod(0o777)
    changed = make_private(settings)
    assert mode(config) == mode(log) == mode(s.run_dir / "livekit.yaml") == 0o600
    assert mode(s.run_dir / "pg") == 0o711 and mode(s.data_dir) == 0o711
    assert mode(venv_file) == 0o644  # code, not data: left alone
    assert config in changed and make_private(settings) == []  # a second run changes nothing
