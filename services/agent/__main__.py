"""`python -m services.agent start`: run the voice worker with settings from the one settings model."""

from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from services.shared import settings as settings_module
from services.shared.settings import get_settings


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
