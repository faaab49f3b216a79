"""The Dockerfile of our image, parsed: slim pinned base, non-root, pinned runtime deps only, health check,
and a build context (.dockerignore) that carries no secrets or state."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field
from importlib import metadata

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from services.shared.settings import ROOT

pytestmark = pytest.mark.unit

DEV_ONLY = {"pytest", "ruff", "playwright", "schemathesis", "matplotlib", "jsonschema-rs", "pgserver"}


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, op: str) -> list[str]:
        return [arg for o, arg in self.instructions if o == op]


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, with continuation lines joined and ARGs in FROM resolved."""
    logical, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):
            continue
        current += line.rstrip()[:-1] + " " if line.rstrip().endswith("\\") else line
        if not line.rstrip().endswith("\\"):
            logical.append(current.strip())
            current = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for entry in logical:
        op, _, arg = entry.partition(" ")
        op = op.upper()
        if op == "ARG" and not stages:
            key, _, default = arg.partition("=")
            args[key] = default
        elif op == "FROM":
            parts = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], arg).split()
            stages.append(Stage(base=parts[0], name=parts[2] if len(parts) > 2 else None))
        else:
            stages[-1].instructions.append((op, arg.strip()))
    return args, stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile((ROOT / "Dockerfile").read_text())[1]


def test_every_base_image_is_pinned_and_the_runtime_is_slim_python_311(stages: list[Stage]) -> None:
    for stage in stages:
        _, _, tag = stage.base.partition(":")
        assert tag and tag != "latest" and re.match(r"\d+\.\d+\.\d+", tag), f"{stage.base} is not pinned"
    runtime = stages[-1]
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", runtime.base), runtime.base


def test_the_image_runs_as_a_non_root_user(stages: list[Stage]) -> None:
    runtime = stages[-1]
    users = runtime.all("USER")
    assert users and users[-1] not in ("root", "0", "0:0"), users
    ops = [op for op, _ in runtime.instructions]
    assert "RUN" not in ops[ops.index("USER") :], "RUN after USER would run as the service user at build"
    assert any("useradd --system" in run for run in runtime.all("RUN"))


def test_the_runtime_installs_only_pinned_runtime_dependencies(stages: list[Stage]) -> None:
    runs = " ".join(stages[-1].all("RUN"))
    assert "pip install --no-cache-dir --no-deps -r config/container-requirements.txt" in runs
    assert "pip check" in runs
    assert "--no-install-recommends" in runs and "rm -rf /var/lib/apt/lists/*" in runs
    assert not re.search(r"\bpip install\b[^&]*\.\[", runs), "no extras (dev) of the project"
    for package in ("espeak-ng", "libgomp1"):
        assert package in runs


def test_container_requirements_agree_with_pyproject_and_hold_no_dev_tools() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for line in (ROOT / "config" / "container-requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", line
            pins[canonicalize_name(req.name)] = spec.version
    for text in project["dependencies"] + project["optional-dependencies"]["offline"]:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        if name in DEV_ONLY:
            continue
        assert name in pins, f"{name} (pyproject) missing from config/container-requirements.txt"
        assert req.specifier.contains(pins[name]), f"{name}: {pins[name]} does not satisfy {req.specifier}"
    assert not DEV_ONLY & pins.keys(), DEV_ONLY & pins.keys()


# The image's Pythons: the official base's and the locally built stand-in's (Debian bookworm's python3).
IMAGE_PYTHONS = ("3.11.14", "3.11.2")


@pytest.mark.parametrize("python", IMAGE_PYTHONS)
def test_container_requirements_hold_what_their_packages_need_on_the_image_python(python: str) -> None:
    """The image's `pip check`, ahead of a build: the file is generated from the venv, whose Python may skip a
    dependency that the image's needs (redis-py's async-timeout below 3.11.3)."""
    pins = {}
    for line in (ROOT / "config" / "container-requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            req = Requirement(line)
            pins[canonicalize_name(req.name)] = req
    env = {**default_environment(), "python_full_version": python, "python_version": python.rsplit(".", 1)[0]}
    missing = []
    for name in pins:
        for text in metadata.distribution(name).requires or []:
            need = Requirement(text)
            applies = need.marker is None or need.marker.evaluate({**env, "extra": ""})
            if applies and canonicalize_name(need.name) not in pins:
                missing.append(f"{name} needs {need}")
    assert not missing, missing


def test_health_check_and_default_command_are_the_native_web_ones(stages: list[Stage]) -> None:
    runtime = stages[-1]
    (health,) = runtime.all("HEALTHCHECK")
    assert '"services.deploy.health", "web"' in health
    (cmd,) = runtime.all("CMD")
    assert cmd == '["gunicorn", "-c", "services/web/gunicorn_conf.py", "services.web.app:create_app()"]'


def _dockerignore_allows(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its folders wins; '!' re-includes."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    allowed = True
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        regex = fnmatch.translate(pattern).replace(".*", "[^/]*").replace("[^/]*[^/]*", ".*")
        if any(re.match(regex, prefix) for prefix in prefixes):
            allowed = negate
    return allowed


def test_the_build_context_has_what_copy_needs_and_no_secrets_or_state(stages: list[Stage]) -> None:
    for stage in stages:
        for copy in stage.all("COPY"):
            if "--from=" in copy:
                continue
            for source in copy.split()[:-1]:
                assert _dockerignore_allows(source.rstrip("/")), f"COPY {source}: excluded by .dockerignore"
    for secret_or_state in (
        ".env",
        ".deploy/host.env",
        ".stack/data/postgres",
        ".git/config",
        "backups/letta.dump",
        "services/.env",
        "tests/unit/test_compose_file.py",
    ):
        assert not _dockerignore_allows(secret_or_state), f"{secret_or_state} would enter the image"
