"""`make down` stops the detached compaction processes the stack started, and only those."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.shared import compaction_registry
from services.shared.settings import Settings

pytestmark = pytest.mark.unit


def settings_in(stack_dir: Path) -> Settings:
    settings = Settings()
    settings.stack.dir = stack_dir
    return settings


def test_a_registered_process_leaves_its_file_only_while_it_runs(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    with compaction_registry.registered(settings):
        files = list((tmp_path / "run" / compaction_registry.FOLDER).iterdir())
        assert [f.name for f in files] == [str(os.getpid())]
        assert files[0].stat().st_mode & 0o077 == 0
    assert not list((tmp_path / "run" / compaction_registry.FOLDER).iterdir())


def test_stop_running_signals_compactions_and_leaves_other_pids_alone(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    folder = tmp_path / "run" / compaction_registry.FOLDER
    folder.mkdir(parents=True)
    # A process whose command line names the compaction module, and one that does not.
    compaction = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "services.shared.compaction", "agent-x"]
    )
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for proc in (compaction, other):
            (folder / str(proc.pid)).touch()
        (folder / "999999999").touch()  # gone long ago
        assert compaction_registry.stop_running(settings) == 1
        assert compaction.wait(timeout=10) == -15
        assert other.poll() is None
        assert not list(folder.iterdir())
    finally:
        for proc in (compaction, other):
            proc.kill()
            proc.wait()
