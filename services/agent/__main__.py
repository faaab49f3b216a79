"""`python -m services.agent start`: run the voice worker with settings from the one settings model."""

from __future__ import annotations

import argparse
import os
import sys
from typing import IO

from pydantic import ValidationError

from services.agent.slots import INSTANCE_FILE, SlotError, claim_slot, write_instance
from services.shared import settings as settings_module
from services.shared.settings import Settings, get_settings


def setting_errors(exc: ValidationError) -> list[tuple[str, str]]:
    """(environment variable, message) for each error of a settings section."""
    section = getattr(settings_module, exc.title, None)
    prefix = section.model_config.get("env_prefix", "") if section is not None else ""
    out = []
    for err in exc.errors():
        field = "_".join(str(part) for part in err["loc"])
        name = field if field.isupper() else f"{prefix}{field}".upper()
        out.append((name or exc.title, err["msg"]))
    return out


_slot_lock: IO[str] | None = None  # held open while the worker runs: its index stays claimed


def claim_instance(settings: Settings) -> Settings:
    """A compose replica: claim the first free worker index (services/agent/slots.py) and return the settings
    of that worker. AGENT_INSTANCE goes into the environment too, so the job processes agree."""
    global _slot_lock
    run_dir = settings.stack.run_dir
    (run_dir / INSTANCE_FILE).unlink(missing_ok=True)
    assert settings.agent.slots_dir is not None
    index, _slot_lock = claim_slot(settings.agent.slots_dir, settings.agent.workers)
    os.environ["AGENT_INSTANCE"] = str(index)
    get_settings.cache_clear()
    claimed = get_settings()
    write_instance(run_dir, index)
    print(f"agent: worker index {index} of AGENT_WORKERS={settings.agent.workers}", file=sys.stderr)
    return claimed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.agent", description="Letta voice worker.")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="Register with livekit-server and serve voice sessions.")
    start.add_argument("--log-level", default="INFO", help="Log level (default INFO).")
    sub.add_parser("check", help="Validate speech provider settings and exit.")
    args = parser.parse_args(argv)

    try:
        settings = get_settings()
    except ValidationError as exc:
        for name, msg in setting_errors(exc):
            print(f"agent: invalid setting {name}: {msg}", file=sys.stderr)
        return 2
    if args.command == "start" and settings.agent.slots_dir is not None:
        try:
            settings = claim_instance(settings)
        except SlotError as exc:
            print(f"agent: {exc}", file=sys.stderr)
            return 2
    if args.command == "start":
        from services.agent.server import use_metrics_dir

        use_metrics_dir(settings)  # before anything imports prometheus_client (the providers do)
    from services.agent.providers import ProviderError, check_providers

    try:
        check_providers(settings)
    except ProviderError as exc:
        print(f"agent: {exc}", file=sys.stderr)
        return 2
    if args.command == "check":
        print("agent: settings OK")
        return 0

    from services.agent.server import run

    run(settings, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
