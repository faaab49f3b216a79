"""Pin the container image's Python packages to the versions of the tested venv.

`python -m services.deploy.requirements > config/container-requirements.txt` walks the dependency closure
of pyproject's runtime dependencies (plus the ``offline`` extra without ``pgserver``: the containers use the
pgvector image) through the installed distributions, so the image gets exactly what the native stack was
tested with. The Dockerfile installs the file with ``--no-deps``; a unit test checks it agrees with pyproject.
"""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
NOT_IN_CONTAINER = frozenset({"pgserver"})  # PostgreSQL runs from the pgvector image there


def top_level(pyproject: dict) -> list[Requirement]:
    """pyproject's runtime dependencies and the offline extra, minus what containers do not need."""
    project = pyproject["project"]
    reqs = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["offline"]]
    return [r for r in reqs if canonicalize_name(r.name) not in NOT_IN_CONTAINER]


def _applies(req: Requirement, extras: set[str]) -> bool:
    if req.marker is None:
        return True
    env = default_environment()
    return any(req.marker.evaluate({**env, "extra": extra}) for extra in (extras or {""}))


def closure(roots: list[Requirement]) -> dict[str, str]:
    """Canonical name -> installed version for ``roots`` and everything they need (markers evaluated)."""
    pins: dict[str, str] = {}
    extras_seen: dict[str, set[str]] = {}
    queue = [(r, set(r.extras)) for r in roots]
    while queue:
        req, extras = queue.pop()
        name = canonicalize_name(req.name)
        known = extras_seen.setdefault(name, set())
        if name in pins and extras <= known:
            continue
        known |= extras
        dist = metadata.distribution(name)
        pins[name] = dist.version
        for spec in dist.requires or []:
            child = Requirement(spec)
            if _applies(child, known):
                queue.append((child, set(child.extras)))
    return pins


def render(pins: dict[str, str]) -> str:
    head = [
        "# The container image's Python packages, pinned to the tested venv (--no-deps install).",
        "# Generated: python -m services.deploy.requirements > config/container-requirements.txt",
    ]
    return "\n".join(head + [f"{name}=={pins[name]}" for name in sorted(pins)]) + "\n"


def main() -> int:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    sys.stdout.write(render(closure(top_level(pyproject))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
