"""`python -m services.smoke [--json]`: run the smoke checks against a running stack and print the verdict.

Exit status 0 when every check passed, 1 otherwise. Settings (URLs, keys) come from the environment/.env,
so the same command checks the native stack or a deployed one. With `--every SECONDS` it becomes the probe
(`make probe`): the same checks on an interval, exported as Prometheus metrics on `--metrics-port`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from services.shared.rtc_exit import exit_process
from services.shared.settings import Settings, load_settings_or_exit
from services.smoke.checks import CHECKS, SmokeContext, cleanup
from services.web.store import throwaway_account

MARK = {True: "\033[32m✓\033[0m", False: "\033[31m✗\033[0m"}
CHECK_TIMEOUT_S = 180


async def timed(name: str, step: Callable[[], Awaitable[str]], quiet: bool) -> dict[str, Any]:
    """Run one check; every failure becomes a failed result, never a crash."""
    started = time.monotonic()
    try:
        detail, ok = await asyncio.wait_for(step(), CHECK_TIMEOUT_S), True
    except Exception as error:
        detail, ok = (f"{type(error).__name__}: {error}" if str(error) else type(error).__name__), False
    result = {"check": name, "ok": ok, "seconds": round(time.monotonic() - started, 2), "detail": detail}
    if not quiet:
        print(f"{MARK[ok]} {name:<30} {result['seconds']:6.2f}s  {detail}", flush=True)
    return result


async def run_checks(settings: Settings, quiet: bool) -> list[dict[str, Any]]:
    """Every check in order, then the clean-up (always)."""
    results = []
    async with httpx.AsyncClient(timeout=30) as http:
        with contextlib.ExitStack() as accounts:
            if settings.auth_required:  # a throwaway admin account, removed at the end
                name, password = accounts.enter_context(throwaway_account(settings, "smoke", admin=True))
                login = {"name": name, "password": password}
                (await http.post(f"{settings.web.base_url}/api/login", json=login)).raise_for_status()
            ctx = SmokeContext(settings, http)
            try:
                for name, check in CHECKS:
                    results.append(await timed(name, lambda c=check: c(ctx), quiet))
            finally:
                results.append(await timed("cleanup", lambda: cleanup(ctx), quiet))
    return results


def report(results: list[dict[str, Any]], as_json: bool) -> int:
    passed = sum(r["ok"] for r in results)
    failed = len(results) - passed
    if as_json:
        print(json.dumps({"passed": passed, "failed": failed, "checks": results}, indent=2))
    else:
        print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


async def probe_forever(settings: Settings, every: float, port: int) -> None:
    """Run the checks every `every` seconds; export their outcome and duration for Prometheus."""
    from prometheus_client import Counter, Gauge, start_http_server

    ok = Gauge("lvs_probe_check_ok", "1 when the check passed on the last run", ["check"])
    seconds = Gauge("lvs_probe_check_seconds", "Duration of the check on the last run", ["check"])
    runs = Counter("lvs_probe_runs_total", "Probe runs by outcome", ["outcome"])
    last = Gauge("lvs_probe_last_run_timestamp_seconds", "When the last run ended")
    start_http_server(port, addr="127.0.0.1")
    print(f"probe: every {every:.0f}s, metrics on http://127.0.0.1:{port}/metrics", flush=True)
    while True:
        results = await run_checks(settings, quiet=True)
        for r in results:
            ok.labels(r["check"]).set(1 if r["ok"] else 0)
            seconds.labels(r["check"]).set(r["seconds"])
        failed = [r["check"] for r in results if not r["ok"]]
        runs.labels("fail" if failed else "pass").inc()
        last.set(time.time())
        print(json.dumps({"probe": "fail" if failed else "pass", "failed": failed}), flush=True)
        await asyncio.sleep(every)  # the interval between runs, not a synchronisation


def main() -> int:
    # The loopback development secret is short on purpose; deployed stacks use 32+ bytes (checked by settings).
    warnings.filterwarnings("ignore", message="The HMAC key is")
    logging.getLogger("livekit").setLevel(logging.CRITICAL)  # the rtc SDK's own noise on disconnects
    parser = argparse.ArgumentParser(prog="python -m services.smoke", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of lines")
    parser.add_argument("--every", type=float, help="repeat every SECONDS as a probe (runs until stopped)")
    parser.add_argument("--metrics-port", type=int, default=9102, help="probe metrics port (default 9102)")
    args = parser.parse_args()
    settings = load_settings_or_exit()
    if args.every:
        if args.every < 30:
            parser.error("--every must be at least 30 seconds (one run takes about a minute)")
        asyncio.run(probe_forever(settings, args.every, args.metrics_port))
        return 0
    return report(asyncio.run(run_checks(settings, quiet=args.json)), args.json)


if __name__ == "__main__":
    exit_process(main())
