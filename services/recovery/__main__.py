"""`python -m services.recovery serve | sweep --once [--dry-run] | rooms`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import warnings

import aiohttp

from services.recovery.report import actions_table, memory_table, rooms_table
from services.recovery.server import serve
from services.recovery.sweeper import Sweeper
from services.shared.livekit import livekit_api
from services.shared.settings import Settings, load_settings_or_exit


async def _sweep_once(settings: Settings, dry_run: bool) -> int:
    async with livekit_api(settings) as lkapi:
        sweeper = Sweeper(settings, lkapi, dry_run=dry_run)
        try:
            result = await sweeper.sweep()
        finally:
            await sweeper.close()
    now = time.time()
    mode = "dry run: nothing changed" if dry_run else "actions carried out"
    print(
        f"Found {len(result.snapshot.rooms)} room(s) in {result.seconds * 1000:.0f} ms "
        f"(agent worker {'ready' if result.worker_ready else 'NOT ready'}):\n"
    )
    print(rooms_table(result.snapshot, settings.recovery, now))
    waits = memory_table(result.memory, now)
    if waits:
        print("\n" + waits)
    print(f"\n{mode}:\n")
    print(actions_table(result.done))
    return 1 if any(o.value == "failed" for _, o in result.done) else 0


async def _rooms(settings: Settings) -> int:
    async with livekit_api(settings) as lkapi:
        snapshot = await Sweeper(settings, lkapi).fetch(every_room=True)
    print(rooms_table(snapshot, settings.recovery, time.time(), all_listed=True))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.recovery", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the sweep loop and the webhook receiver")
    sweep = sub.add_parser("sweep", help="sweep rooms and print what was found and done")
    sweep.add_argument("--once", action="store_true", required=True, help="one sweep, then exit")
    sweep.add_argument("--dry-run", action="store_true", help="decide but change nothing")
    sub.add_parser("rooms", help="list rooms and participants")
    args = parser.parse_args(argv)
    settings = load_settings_or_exit()
    # Loopback dev keys are short by design (the settings refuse them off loopback): keep the CLI output clean.
    warnings.filterwarnings("ignore", message="The HMAC key is")
    try:
        if args.command == "serve":
            asyncio.run(serve(settings))
            return 0
        if args.command == "sweep":
            return asyncio.run(_sweep_once(settings, args.dry_run))
        return asyncio.run(_rooms(settings))
    except (aiohttp.ClientConnectionError, TimeoutError) as error:
        url = settings.livekit.http_url
        print(f"error: cannot reach livekit-server at {url} (LIVEKIT_URL): {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
