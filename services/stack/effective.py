"""The effective settings: every variable's value and where it came from (environment, .env, secrets, default).

`make config` prints them; `make up` fingerprints them per program to restart exactly what changed.
Secret values are only ever hashed or masked here, never printed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings

from services.shared.settings import DEV_SECRETS_FILE, ENV_FILE, Settings, env_name

MASK = "********"
# Variables compose.yaml and the deploy scripts read that are not fields of the settings model.
EXTRA_NAMES_PATTERN = re.compile(r"^(COMPOSE_[A-Z0-9_]+|DOCKER_[A-Z0-9_]+|[A-Z0-9_]+_IMAGE)$")
_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$")


class Source(StrEnum):
    DEFAULT = "default"
    ENV_FILE = ".env"
    SECRETS = "secrets file"
    ENVIRONMENT = "environment"


@dataclass(frozen=True)
class Effective:
    """One setting as the services will see it."""

    name: str  # the environment variable
    section: str  # the Settings attribute: "web", "agent", …
    value: str  # the value as text (secrets included: never print this field)
    secret: bool
    source: Source

    @property
    def shown(self) -> str:
        """The value for people: masked when secret."""
        if self.secret:
            return MASK if self.value else "(unset)"
        return self.value if self.value != "" else '""'

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.value.encode()).hexdigest()


@dataclass(frozen=True)
class EnvLine:
    number: int
    name: str | None  # None: not a KEY=value line


def read_env_lines(path: Path) -> list[EnvLine]:
    """The assignments of a .env file with their line numbers; malformed lines have no name."""
    if not path.is_file():
        return []
    out = []
    for number, raw in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        out.append(EnvLine(number, match.group(1).upper() if match else None))
    return out


def _as_text(value: object) -> tuple[str, bool]:
    if isinstance(value, SecretStr):
        return value.get_secret_value(), True
    if value is None:
        return "", False
    if isinstance(value, Enum):
        return str(value.value), False
    if isinstance(value, list | dict):
        return json.dumps(value), False
    return str(value), False


def _sections(settings: Settings) -> list[tuple[str, BaseSettings]]:
    return [(attr, getattr(settings, attr)) for attr in type(settings).model_fields]


def known_names(settings: Settings) -> set[str]:
    return set(sections_by_name(settings))


def sections_by_name(settings: Settings) -> dict[str, str]:
    """{environment variable: the Settings attribute of its section} for every setting."""
    return {env_name(type(sec), f): attr for attr, sec in _sections(settings) for f in type(sec).model_fields}


def settings_given(settings: Settings, environ: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """{variable as given: (its section, value)} for each variable of ``environ`` that sets a setting
    (pydantic reads the names in either case)."""
    sections = sections_by_name(settings)
    return {k: (sections[k.upper()], v) for k, v in environ.items() if k.upper() in sections}


def outside_settings(settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: this process's) without the variables that set a setting."""
    environ = os.environ if environ is None else environ
    given = settings_given(settings, environ)
    return {k: v for k, v in environ.items() if k not in given}


def effective_settings(
    settings: Settings,
    env_file: Path = ENV_FILE,
    secrets_file: Path = DEV_SECRETS_FILE,
    environ: dict[str, str] | None = None,
) -> list[Effective]:
    """Every setting in section order, with the source that won (environment > .env > secrets file > default)."""
    environ = dict(os.environ) if environ is None else environ
    in_environ = {k.upper() for k in environ}
    in_env_file = {line.name for line in read_env_lines(env_file) if line.name}
    in_secrets = {line.name for line in read_env_lines(secrets_file) if line.name}
    out = []
    for attr, section in _sections(settings):
        for field_name in type(section).model_fields:
            name = env_name(type(section), field_name)
            text, secret = _as_text(getattr(section, field_name))
            if name in in_environ:
                source = Source.ENVIRONMENT
            elif name in in_env_file:
                source = Source.ENV_FILE
            elif name in in_secrets:
                source = Source.SECRETS
            else:
                source = Source.DEFAULT
            out.append(Effective(name, attr, text, secret, source))
    return out


# Settings that moved: an old .env names the new one in its error (the speech models left the worker).
RENAMED = {
    "AGENT_WHISPER_MODEL": "SPEECH_WHISPER_MODEL",
    "AGENT_WHISPER_BEAM": "SPEECH_WHISPER_BEAM",
    "AGENT_SPEECH_THREADS": "SPEECH_THREADS",
}


def env_file_problems(settings: Settings, env_file: Path = ENV_FILE) -> list[str]:
    """Lines of .env that set nothing the stack knows (a typo is otherwise silently ignored)."""
    known = known_names(settings)
    problems = []
    for line in read_env_lines(env_file):
        if line.name is None:
            problems.append(f"{env_file.name} line {line.number}: not a NAME=value line")
        elif line.name in RENAMED:
            problems.append(f"{env_file.name} line {line.number}: {line.name} is now {RENAMED[line.name]}: rename it")
        elif line.name not in known and not EXTRA_NAMES_PATTERN.match(line.name):
            problems.append(f"{env_file.name} line {line.number}: unknown setting {line.name}")
    return problems


def format_table(rows: list[Effective]) -> str:
    """One setting per line: name, value (secrets masked), source."""
    width = max((len(r.name) for r in rows), default=10)
    lines = [f"{'setting':<{width}}  {'source':<12}  value"]
    lines += [f"{r.name:<{width}}  {r.source.value:<12}  {r.shown}" for r in rows]
    return "\n".join(lines)
