"""`python -m tests.smoke [--json]`: run the smoke checks against a running stack and print the verdict.

Exit status 0 when every check passed, 1 otherwise. Settings (URLs, keys) come from the environment/.env,
so the same command checks the native stack or a deployed one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
import warnings

import httpx

from services.shared.settings import load_settings_or_exit
from tests.smoke.checks import CHECKS, SmokeContext, cleanup

MARK = {True: "\033[32m✓\033[0m", False: "\033[31m✗\033[0m"}


async def run(as_json: bool) -> int:
    settings = load_settings_or_exit()
    results = []
    async with httpx.AsyncClient(timeout=30) as http:
        ctx = SmokeContext(settings, http)
        try:
            for name, check in [*CHECKS]:
                started = time.monotonic()
                try:
                    detail, ok = await asyncio.wait_for(check(ctx), 180), True
                except Exception as error:  # every failure becomes a failed line, never a crash
                    detail, ok = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__, False
                results.append({"check": name, "ok": ok, "seconds": round(time.monotonic() - started, 2),
                                "detail": detail})
                if not as_json:
                    r = results[-1]
                    print(f"{MARK[ok]} {name:<30} {r['seconds']:6.2f}s  {detail}", flush=True)
        finally:
            started = time.monotonic()
            try:
                detail, ok = await cleanup(ctx), True
            except Exception as error:
                detail, ok = f"{type(error).__name__}: {error}", False
            results.append({"check": "cleanup", "ok": ok, "seconds": round(time.monotonic() - started, 2),
                            "detail": detail})
            if not as_json:
                print(f"{MARK[ok]} {'cleanup':<30} {results[-1]['seconds']:6.2f}s  {detail}")
    passed = sum(r["ok"] for r in results)
    failed = len(results) - passed
    if as_json:
        print(json.dumps({"passed": passed, "failed": failed, "checks": results}, indent=2))
    else:
        print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def main() -> int:
    # The loopback development secret is short on purpose; deployed stacks use 32+ bytes (checked by settings).
    warnings.filterwarnings("ignore", message="The HMAC key is")
    logging.getLogger("livekit").setLevel(logging.CRITICAL)  # the rtc SDK's own noise on disconnects
    parser = argparse.ArgumentParser(prog="python -m tests.smoke", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of lines")
    args = parser.parse_args()
    return asyncio.run(run(args.json))


if __name__ == "__main__":
    sys.exit(main())
