"""Keep the native stack's data, logs and run files private to the user that runs it.

New files are private through umask 077 (the runner, supervisord and every program, the scripts); this
takes group and other read/write away from what an older version left behind (letta.log 0644, Letta's
config with the database URI 0644 …). Directories keep their search (x) bit: PostgreSQL's user must
traverse them to reach its data and socket (see database.grant_traversal), but nobody can list them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from services.shared.settings import Settings

FILE_MASK = 0o077  # taken away from files
DIR_MASK = 0o066  # taken away from directories (read and write; search stays where it was)


def private_roots(settings: Settings) -> list[Path]:
    """What holds memory, secrets or logs: data, logs, run files, secrets.env, the state folder itself."""
    s = settings.stack
    return [s.data_dir, s.log_dir, s.run_dir, s.dir / "secrets.env"]


def tightened_mode(mode: int) -> int:
    """The permission bits ``mode`` (from stat) should have: owner access only, directories still traversable."""
    perms = stat.S_IMODE(mode)
    return perms & ~(DIR_MASK if stat.S_ISDIR(mode) else FILE_MASK)


def _walk(root: Path) -> Iterator[Path]:
    if not root.exists() and not root.is_symlink():
        return
    yield root
    if root.is_dir() and not root.is_symlink():
        for folder, dirs, files in os.walk(root):
            for name in dirs + files:
                yield Path(folder) / name


def make_private(settings: Settings) -> list[Path]:
    """Tighten every file and folder under the private roots; the paths that changed."""
    changed = []
    top = settings.stack.dir
    if top.exists() and tightened_mode(top.lstat().st_mode) != stat.S_IMODE(top.lstat().st_mode):
        top.chmod(tightened_mode(top.lstat().st_mode))
        changed.append(top)
    for root in private_roots(settings):
        for path in _walk(root):
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode) or stat.S_ISSOCK(info.st_mode):
                continue
            wanted = tightened_mode(info.st_mode)
            if wanted != stat.S_IMODE(info.st_mode):
                path.chmod(wanted)
                changed.append(path)
    return changed
