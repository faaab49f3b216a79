"""The map of what each program reads (services.stack.applied.READS) covers what its code reads.

A setting read by a program but missing from the map is not restarted for when .env changes, and does not
reach the program at all when given in the environment of `make up` (render.program_environment).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.shared.settings import Settings, env_name
from services.stack.applied import reads

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
USE = re.compile(r"\bsettings\.([a-z_]+)\.([a-z_]+)\b")
PROGRAMS = ("agent", "web", "recovery", "speech", "llm")


def used_settings(package: str) -> set[tuple[str, str]]:
    """(section, field) pairs a package's code reads as settings.<section>.<field>."""
    found: set[tuple[str, str]] = set()
    for path in (ROOT / "services" / package).rglob("*.py"):
        found |= set(USE.findall(path.read_text()))
    return found


@pytest.mark.parametrize("program", PROGRAMS)
def test_every_setting_a_program_reads_is_in_its_map(program: str) -> None:
    sections = {name: type(section) for name, section in Settings().__dict__.items()}
    missing = []
    for section, field in sorted(used_settings(program)):
        model = sections.get(section)
        if model is None or field not in model.model_fields:
            continue  # a property or a method, not a setting
        name = env_name(model, field)
        if not reads(program, section, name):
            missing.append(name)
    assert not missing, f"{program} reads {missing}, not in services/stack/applied.READS[{program!r}]"
