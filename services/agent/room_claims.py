"""One starting job per room across the workers that share a folder: a claim file per room.

Racing dispatches for one room can reach two workers at the same instant; each lists the room's
participants, sees no agent of ours yet, and would accept. The claim closes that window: a worker takes the
room's claim (under an exclusive flock) before it accepts, and the job releases it once its agent is in the
room, from when on the participant list itself tells every worker that the room is served. A claim of a
worker that died before its job joined expires after ``ttl`` seconds.

Shared by the native workers (the stack's run folder) and by compose's replicas (the agent-slots volume).
Workers on different machines do not share it: there LiveKit's stable agent identity is what remains.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from services.shared.settings import Settings

# Longer than a job takes from accept to its join on a busy machine (livekit-server's assignment timeout
# is 7.5 s; a job process start has been seen to take 3-5 s under load).
CLAIM_TTL_S = 12.0
PRUNE_AFTER_S = 3600.0


def claims_dir(settings: Settings) -> Path:
    """The folder every worker of this machine (or compose project) shares."""
    if settings.agent.slots_dir is not None:
        return settings.agent.slots_dir / "room-claims"
    return settings.stack.run_dir / "room-claims"


@dataclass(frozen=True)
class Holder:
    job_id: str
    at: float


@dataclass(frozen=True)
class RoomClaims:
    """Claim files in ``folder``: one per room, named by a hash of the room name."""

    folder: Path
    ttl: float = CLAIM_TTL_S

    def claim(self, room: str, job_id: str, now: float | None = None) -> Holder | None:
        """Take the room for ``job_id``: None when taken, else the other job that holds a live claim.

        The time is read under the lock (a time taken before it can be older than the holder's: two workers'
        clocks are one clock here, but their waits differ), and a claim up to ``ttl`` ahead is live too.
        """
        with self._locked(room) as file:
            now = time.time() if now is None else now
            holder = _read(file)
            if holder and holder.job_id != job_id and abs(now - holder.at) < self.ttl:
                return holder
            _write(file, Holder(job_id, now))
        return None

    def holder(self, room: str, now: float | None = None) -> Holder | None:
        """The job that holds a live claim on the room (None: no job of these workers is starting there)."""
        if not self.path(room).exists():
            return None
        with self._locked(room) as file:
            now = time.time() if now is None else now
            holder = _read(file)
        return holder if holder and abs(now - holder.at) < self.ttl else None

    def release(self, room: str, job_id: str) -> bool:
        """Give the room's claim up if ``job_id`` holds it (another job's claim stays)."""
        with self._locked(room) as file:
            holder = _read(file)
            if holder is None or holder.job_id != job_id:
                return False
            file.seek(0)
            file.truncate()
        return True

    def prune(self, now: float | None = None) -> int:
        """Remove claim files untouched for an hour (rooms long gone); how many were removed."""
        now = time.time() if now is None else now
        removed = 0
        for path in self.folder.glob("*.claim"):
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime > PRUNE_AFTER_S:
                    path.unlink()
                    removed += 1
        return removed

    def path(self, room: str) -> Path:
        return self.folder / f"{hashlib.sha256(room.encode()).hexdigest()[:32]}.claim"

    @contextlib.contextmanager
    def _locked(self, room: str) -> Iterator[IO[str]]:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path(room), os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+", encoding="utf-8") as file:
            fcntl.flock(file, fcntl.LOCK_EX)  # released when the file closes
            yield file


def _read(file: IO[str]) -> Holder | None:
    file.seek(0)
    try:
        value = json.loads(file.read() or "null")
        return Holder(str(value["job"]), float(value["at"])) if value else None
    except (ValueError, KeyError, TypeError):
        return None  # torn or foreign content: no claim


def _write(file: IO[str], holder: Holder) -> None:
    file.seek(0)
    file.truncate()
    file.write(json.dumps({"job": holder.job_id, "at": holder.at}))
    file.flush()
