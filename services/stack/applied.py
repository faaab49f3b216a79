"""What each running program was started with, and which programs a settings change must restart.

`make up` records a fingerprint per program (the hash of every setting it reads) when it starts it; the next
`make up` compares and restarts exactly the programs whose settings changed. Only hashes are stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from services.stack.effective import Effective

# Which settings sections (lower case) and single settings of other sections (upper case) each program reads.
# A section not named here (a new one) counts as read by every Python program of ours, so a new setting
# restarts too much rather than too little. Single settings keep a sidecar tweak from restarting livekit-server
# (every call dropped) or the workers (every session ended).
READS: dict[str, frozenset[str]] = {
    "postgres": frozenset({"stack", "postgres"}),
    "redis": frozenset({"stack", "redis"}),
    "livekit": frozenset({"stack", "livekit", "redis", "RECOVERY_PORT"}),  # the webhook URL
    "llm": frozenset({"stack", "llm"}),
    "embeddings": frozenset({"stack", "embeddings"}),
    "letta": frozenset({"stack", "letta", "postgres", "llm", "embeddings"}),
    "speech": frozenset({"stack", "speech"}),
    # WEB_SESSION_GRACE: a room switch waits as the page does (services/agent/switching.py)
    "agent": frozenset(
        {"stack", "agent", "livekit", "letta", "llm", "speech", "RECOVERY_ROOM_PREFIX", "WEB_SESSION_GRACE"}
    ),
    # embeddings: the web service makes new Letta agents with the embedding model's endpoint and size
    "web": frozenset(
        {"stack", "web", "livekit", "letta", "agent", "recovery", "llm", "deploy", "speech", "embeddings"}
    ),
    "recovery": frozenset({"stack", "recovery", "livekit", "agent", "letta", "redis"}),  # redis: the lease
}
OUR_PYTHON_PROGRAMS = frozenset({"agent", "web", "recovery", "llm", "speech"})
# Sections no running program reads (compose images, commands run by hand): a change restarts nothing.
UNREAD_SECTIONS = frozenset({"smoke", "images"})
# Read by the runner only (how long to wait, where builds are, who runs PostgreSQL): when they change a
# program's command or user, supervisord's re-rendered config restarts it anyway.
RUNNER_ONLY = frozenset({"STACK_HEALTH_TIMEOUT", "STACK_CACHE_DIR", "STACK_PG_USER", "AGENT_INSTANCE"})
ALL_KNOWN_SECTIONS = frozenset(name for names in READS.values() for name in names if name.islower())


def reads(program: str, section: str, setting: str = "") -> bool:
    """Whether ``program`` (agent-2 reads what agent reads, livekit-2 what livekit reads) depends on
    ``setting`` of ``section`` (no setting: on the whole section)."""
    program = "agent" if program.startswith("agent-") else program
    program = "livekit" if program.startswith("livekit-") else program
    if section in UNREAD_SECTIONS:
        return False
    if section not in ALL_KNOWN_SECTIONS:
        return program in OUR_PYTHON_PROGRAMS
    wanted = READS.get(program, frozenset())
    return section in wanted or setting in wanted


def fingerprint(program: str, rows: list[Effective]) -> dict[str, str]:
    """{setting name: sha256 of its value} for the settings this program reads."""
    return {r.name: r.digest for r in rows if reads(program, r.section, r.name) and r.name not in RUNNER_ONLY}


def changed_names(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Names (never values) of the settings that differ, were added or were removed."""
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))


@dataclass(frozen=True)
class Change:
    program: str
    settings: list[str]


class AppliedStore:
    """One private JSON file per program under the run folder."""

    def __init__(self, run_dir: Path) -> None:
        self.folder = run_dir / "applied"

    def _path(self, program: str) -> Path:
        return self.folder / f"{program}.json"

    def load(self, program: str) -> dict[str, str] | None:
        try:
            data = json.loads(self._path(program).read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def save(self, program: str, prints: dict[str, str]) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self._path(program)
        path.touch(mode=0o600, exist_ok=True)
        path.write_text(json.dumps(prints, sort_keys=True))

    def forget(self) -> None:
        for path in self.folder.glob("*.json"):
            path.unlink(missing_ok=True)


def pending_changes(store: AppliedStore, programs: list[str], rows: list[Effective], running: set[str]) -> list[Change]:
    """The running programs whose recorded settings differ from the effective ones (unknown record: no change)."""
    out = []
    for program in programs:
        before = store.load(program)
        if program not in running or before is None:
            continue
        before = {name: digest for name, digest in before.items() if name not in RUNNER_ONLY}
        names = changed_names(before, fingerprint(program, rows))
        if names:
            out.append(Change(program, names))
    return out
