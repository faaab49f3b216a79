"""Create the deployment secrets in a `.env` file once, and never print them.

Standard library only (Python >= 3.9): `python3 -m services.deploy.secrets --env-file .env` runs on an
operator's machine without the project's venv (scripts/generate-secrets.sh, scripts/deploy-vm.sh). The
pure functions (`parse_env`, `plan_secrets`, `apply_updates`) decide; `main` reads and writes the file.

A secret that is already set is kept as it is (PostgreSQL keeps the password it was initialised with, and
rotating the LiveKit key would break running sessions). Only a missing value or a development default
(``LIVEKIT_API_SECRET=secret`` …) is replaced.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

MIN_SECRET_BYTES = 32  # services.shared.settings.MIN_SECRET_BYTES: the validator enforces it off loopback
LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


@dataclass(frozen=True)
class SecretSpec:
    """One generated setting: how to make it and which values are only development defaults."""

    name: str
    make: Callable[[], str]
    dev_defaults: frozenset[str]
    min_bytes: int


SPECS: tuple[SecretSpec, ...] = (
    SecretSpec("LIVEKIT_API_KEY", lambda: "API" + secrets.token_hex(8), frozenset({"", "devkey"}), 3),
    SecretSpec("LIVEKIT_API_SECRET", lambda: secrets.token_urlsafe(48), frozenset({"", "secret"}), MIN_SECRET_BYTES),
    SecretSpec("LETTA_PASSWORD", lambda: secrets.token_urlsafe(32), frozenset({""}), 16),
    # hex: it goes into a postgresql:// URI unescaped
    SecretSpec("POSTGRES_PASSWORD", lambda: secrets.token_hex(24), frozenset({"", "letta"}), 16),
    # hex: it goes into livekit's and redis' configuration unquoted (scale profile, LIVEKIT_NODES > 1)
    SecretSpec("REDIS_PASSWORD", lambda: secrets.token_hex(32), frozenset({""}), 32),
    SecretSpec("WEB_SECRET_KEY", lambda: secrets.token_urlsafe(48), frozenset({""}), MIN_SECRET_BYTES),  # cookies
    # the speech service's bearer key (the agent sends it)
    SecretSpec("SPEECH_API_KEY", lambda: secrets.token_urlsafe(32), frozenset({""}), MIN_SECRET_BYTES),
)
SECRET_NAMES = frozenset(spec.name for spec in SPECS if spec.name != "LIVEKIT_API_KEY")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    if " #" in value:  # inline comment after an unquoted value
        value = value.split(" #", 1)[0].rstrip()
    return value


def parse_env(text: str) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (comments and blank lines ignored; the last assignment wins)."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        if raw.lstrip().startswith("#"):
            continue
        match = LINE.match(raw)
        if match:
            values[match.group(1)] = _unquote(match.group(2))
    return values


class WeakSecret(ValueError):
    """A secret set in the file is too short to deploy with; the message names the setting."""


def plan_secrets(current: Mapping[str, str]) -> dict[str, str]:
    """The secrets to write: each missing or development-default one gets a fresh value.

    Raises WeakSecret for a value someone set that is shorter than its minimum (it is never silently
    replaced: that would lock Letta out of its database).
    """
    updates: dict[str, str] = {}
    for spec in SPECS:
        value = current.get(spec.name)
        if value is None or value in spec.dev_defaults:
            updates[spec.name] = spec.make()
            continue
        if len(value.encode()) < spec.min_bytes:
            raise WeakSecret(
                f"{spec.name} in the env file is shorter than {spec.min_bytes} bytes: "
                "remove its line to have a strong one generated"
            )
    return updates


def valid_domain(value: str) -> bool:
    """A DNS name like voice.example.com (the rule of DeploySettings.domain in the settings model)."""
    labels = value.rstrip(".").split(".")
    return (
        "://" not in value
        and len(labels) >= 2
        and all(
            0 < len(label) <= 63 and label.replace("-", "").isalnum() and not label.startswith("-") for label in labels
        )
    )


def domain_settings(domain: str) -> dict[str, str]:
    """The settings a VM deployment on ``domain`` needs: Caddy's name and the browsers' LiveKit URL."""
    name = domain.rstrip(".").lower()
    return {"DEPLOY_DOMAIN": name, "LIVEKIT_PUBLIC_URL": f"wss://{name}"}


def _format(value: str) -> str:
    return value if re.fullmatch(r"[A-Za-z0-9_./:@+,=-]*", value) else "'" + value.replace("'", "") + "'"


def apply_updates(text: str, updates: Mapping[str, str], note: str) -> str:
    """Set each KEY in ``text``: replace its active line, or append it under a ``note`` comment."""
    lines = text.splitlines()
    pending = dict(updates)
    for i, raw in enumerate(lines):
        match = LINE.match(raw)
        if match and not raw.lstrip().startswith("#") and match.group(1) in pending:
            key = match.group(1)
            lines[i] = f"{key}={_format(pending.pop(key))}"
    if pending:
        if lines and lines[-1].strip():
            lines.append("")
        lines.append(f"# {note}")
        lines += [f"{key}={_format(value)}" for key, value in pending.items()]
    return "\n".join(lines) + "\n"


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically with a file only its owner can read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _parse_set(items: list[str]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not LINE.match(item):
            raise SystemExit(f"error: --set expects KEY=VALUE, got {item!r}")
        pairs[key] = value
    return pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m services.deploy.secrets",
        description="Add missing secrets (LiveKit key and 32+ byte secret, Letta and Postgres passwords) "
        "to an env file. Existing values are kept; no secret is ever printed.",
    )
    parser.add_argument("--env-file", type=Path, required=True, help="The .env file to create or update.")
    parser.add_argument("--seed", type=Path, help="Copy this file first when the env file does not exist.")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="Also set a non-secret value.")
    parser.add_argument("--domain", help="The VM's DNS name: sets DEPLOY_DOMAIN and LIVEKIT_PUBLIC_URL.")
    parser.add_argument("--check", action="store_true", help="Only check; exit 1 if something is missing.")
    args = parser.parse_args(argv)
    if args.domain is not None and not valid_domain(args.domain):
        print(f"error: DOMAIN={args.domain!r} is not a DNS name like voice.example.com", file=sys.stderr)
        return 2

    path: Path = args.env_file
    existed = path.exists()
    if not existed and args.seed and args.seed.exists():
        text = args.seed.read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8") if existed else ""
    extra = _parse_set(args.set) | (domain_settings(args.domain) if args.domain else {})
    bad = sorted(SECRET_NAMES & extra.keys())
    if bad:
        print(f"error: {bad[0]} is a secret: it is generated, not passed with --set", file=sys.stderr)
        return 2
    current = parse_env(text)
    try:
        updates = plan_secrets(current)
    except WeakSecret as error:
        print(f"error: {path}: {error}", file=sys.stderr)
        return 2
    if args.check:
        for name in updates:
            print(f"missing: {name} (scripts/generate-secrets.sh creates it)", file=sys.stderr)
        return 1 if updates else 0
    changed = {k: v for k, v in extra.items() if current.get(k) != v}
    if not updates and not changed and existed:
        path.chmod(0o600)  # it holds secrets, whoever created it
        print(f"    ok secrets already in {path} (kept as they are)")
        return 0
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")  # noqa: UP017 (system python3 >= 3.9)
    text = apply_updates(text, changed, f"deployment settings (scripts/deploy-vm.sh, {stamp})")
    text = apply_updates(text, updates, f"generated secrets ({stamp}): keep them; never commit this file")
    write_private(path, text)
    for name in updates:
        print(f"    generated {name} into {path}")
    for name in changed:
        print(f"    set {name} in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
