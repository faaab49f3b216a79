"""`python -m services.stack restart` refuses, touching nothing, when a program's executable is not there."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.shared.settings import Settings
from services.stack import cli

pytestmark = pytest.mark.unit


def test_restart_with_another_cache_folder_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STACK_CACHE_DIR", str(tmp_path / "empty-cache"))
    settings = Settings()
    touched: list[str] = []
    monkeypatch.setattr(cli, "Supervisor", lambda *_: touched.append("supervisor"))  # must not be reached
    assert cli.cmd_restart(settings, "agent") == 2
    out = capsys.readouterr().out
    assert f"livekit: {tmp_path / 'empty-cache' / 'bin' / 'livekit-server'}" in out
    assert "STACK_CACHE_DIR" in out and "Nothing was restarted" in out
    assert touched == []


def test_every_program_found_nothing_is_reported(tmp_path: Path) -> None:
    from services.stack.programs import Health, Program

    present = tmp_path / "prog"
    present.write_text("#!/bin/sh\n")
    present.chmod(0o755)
    health = Health("tcp", "127.0.0.1:1")
    progs = [Program("a", [str(present)], 1, health, ()), Program("b", [str(tmp_path / "gone")], 1, health, ())]
    assert cli.missing_commands(progs) == [f"b: {tmp_path / 'gone'}"]
