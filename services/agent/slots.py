"""Which worker a compose replica is: the first free index below AGENT_WORKERS, claimed with a lock.

Natively the stack tells each worker program its index (AGENT_INSTANCE). Replicas of one compose service
(`deploy.replicas: AGENT_WORKERS`, or `--scale agent=N`) all start from the same settings, and with host
networking each needs its own health and metrics ports (AGENT_PORT + 100*i). So each replica takes an
exclusive, non-blocking flock on `<AGENT_SLOTS_DIR>/agent-<i>.lock` (a volume every replica mounts) for the
first i that is free, and keeps the file open while it runs. The kernel drops the lock when the process (or
its container) dies, so a restarted replica gets an index back, and two replicas can never hold the same one.
The claimed index is written to `<run dir>/agent.instance` for the container's health check.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

INSTANCE_FILE = "agent.instance"


class SlotError(Exception):
    """No index is free (more replicas than AGENT_WORKERS), or the folder is unusable."""


def slot_path(directory: Path, index: int) -> Path:
    return directory / f"agent-{index}.lock"


def claim_slot(directory: Path, count: int) -> tuple[int, IO[str]]:
    """(index, open lock file) of the first free index below ``count``; keep the file open to keep the index."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SlotError(f"AGENT_SLOTS_DIR {directory} is not usable: {error}") from error
    for index in range(count):
        try:
            fd = os.open(slot_path(directory, index), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise SlotError(f"AGENT_SLOTS_DIR {directory} is not usable: {error}") from error
        handle = os.fdopen(fd, "r+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        return index, handle
    raise SlotError(
        f"all {count} worker indexes in {directory} are taken: more agent replicas run than AGENT_WORKERS={count}"
        " (set AGENT_WORKERS to the number of replicas)"
    )


def write_instance(run_dir: Path, index: int) -> Path:
    """Record the claimed index where this container's health check finds it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / INSTANCE_FILE
    path.write_text(f"{index}\n")
    return path


def read_instance(run_dir: Path) -> int | None:
    """The index this container's worker claimed, if it has claimed one."""
    try:
        return int((run_dir / INSTANCE_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
