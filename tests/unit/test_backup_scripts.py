"""Backup and restore never surprise the operator: folder modes kept, a safety dump before any drop."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from services.deploy import pgdump
from services.shared.settings import Settings

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def backup(file: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MODE": "native", "STACK_DIR": str(tmp_path / "no-stack")}  # stops before any dump
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "backup.sh"), f"FILE={file}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_backup_keeps_the_mode_of_an_existing_folder(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    result = backup(shared / "letta.dump", tmp_path)
    assert "not installed" in result.stderr, result.stderr
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755  # the old script chmodded it to 700


def test_backup_makes_a_new_folder_private(tmp_path: Path) -> None:
    backup(tmp_path / "new" / "letta.dump", tmp_path)
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700


def test_restore_dumps_the_current_database_before_dropping_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "in.dump"
    archive.write_text("x")
    steps: list[str] = []
    monkeypatch.setenv("POSTGRES_ADMIN_PASSWORD", "a" * 40)
    monkeypatch.setattr(pgdump, "_require_postgres", lambda s: None)
    monkeypatch.setattr(pgdump, "archive_tables", lambda s, f: 3)
    monkeypatch.setattr(pgdump, "_supervisor", lambda s: None)
    monkeypatch.setattr(pgdump, "dump", lambda s, f: steps.append(f"dump {f.name}"))
    monkeypatch.setattr(pgdump, "_psql", lambda s, sql, db="postgres": steps.append(sql.split()[0]))
    monkeypatch.setattr(pgdump, "_run", lambda s, cmd, what, admin=False: steps.append(what) or "")
    pgdump.restore(Settings(), archive, backups=tmp_path / "backups")
    assert steps[0].startswith("dump letta-before-restore-"), steps
    assert steps.index("DROP") > 0 and steps[-1] == "pg_restore"


def test_restore_leaves_extensions_to_the_admin() -> None:
    listing = (
        "; comment\n3; 3079 16385 EXTENSION - vector \n4; 0 0 COMMENT - EXTENSION vector \n"
        "5; 1259 1 TABLE public agents letta\n"
    )
    kept = pgdump.restore_list(listing)
    assert "vector" not in kept and "TABLE public agents" in kept
