"""`python -m services.agent start`: run the voice worker with settings from the one settings model."""

from __future__ import annotations

import argparse
import sys

from services.shared.settings import get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.agent", description="Letta voice worker.")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="Register with livekit-server and serve voice sessions.")
    start.add_argument("--log-level", default="INFO", help="Log level (default INFO).")
    sub.add_parser("check", help="Validate speech provider settings and exit.")
    args = parser.parse_args(argv)

    from services.agent.providers import ProviderError, check_providers

    settings = get_settings()
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
