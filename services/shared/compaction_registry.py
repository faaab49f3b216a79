"""The compaction processes a native stack started, so that `make down` stops them with the stack.

A compaction runs detached from the job that started it (the job's process exits at once), so supervisord,
which stops each program's process group, does not see it. Each one leaves a file named by its pid in
``STACK_RUN_DIR/compactions`` while it runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

from services.shared.settings import Settings

FOLDER = "compactions"
MODULE = b"services.shared.compaction"  # in the command line of every compaction process


@contextlib.contextmanager
def registered(settings: Settings) -> Iterator[None]:
    """Mark this process as a running compaction for the duration of the block."""
    folder = settings.stack.run_dir / FOLDER
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / str(os.getpid())
    path.touch(mode=0o600)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def is_compaction(pid: int) -> bool:
    """True when ``pid`` is a live compaction process (not a pid reused by something else)."""
    try:
        return MODULE in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def stop_running(settings: Settings) -> int:
    """SIGTERM every registered compaction process that still runs; how many were signalled."""
    folder = settings.stack.run_dir / FOLDER
    stopped = 0
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.name.isdigit() and is_compaction(int(path.name)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(path.name), signal.SIGTERM)
                stopped += 1
        path.unlink(missing_ok=True)
    return stopped
