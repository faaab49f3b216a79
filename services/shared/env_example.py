"""Render config/env.example from the settings model, so it always lists every setting.

`python -m services.shared.env_example > config/env.example` after adding a setting; a unit test checks
the committed file matches.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from pydantic import SecretStr
from pydantic_core import PydanticUndefined

from services.shared.settings import ROOT, SECTIONS, env_name


def _default_text(value: object) -> str | None:
    if value is None or value is PydanticUndefined:
        return None
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Path):
        return str(value.relative_to(ROOT)) if value.is_relative_to(ROOT) else str(value)
    return str(value)


def render() -> str:
    lines = [
        "# Every setting of Letta Voice Stack, with its default. Copy to .env and change what you need:",
        "#   cp config/env.example .env",
        "# Generated from services/shared/settings.py (python -m services.shared.env_example).",
        "",
    ]
    for section in SECTIONS.values():
        doc = (section.__doc__ or section.__name__).strip().splitlines()[0]
        lines += [f"## {doc}"]
        for name, field in section.model_fields.items():
            default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
            text = _default_text(default)
            if isinstance(default, list):
                text = "[]" if not default else str(default)
            lines.append(f"# {field.description or name}")
            var = env_name(section, name)
            lines.append(f"{var}={text}" if text is not None else f"# {var}=")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
