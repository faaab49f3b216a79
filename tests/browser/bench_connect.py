"""Benchmark: click Connect -> "agent connected" in real Chromium, over N runs, against the running stack.

Run: .stack/venv/bin/python -m tests.browser.bench_connect --runs 20
Prints one Markdown block (date, machine, p50/p90/max) for docs/benchmarks.md. Not a test: no goal is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import expect, sync_playwright

from services.shared.letta import letta_client
from services.shared.settings import get_settings
from tests.browser.conftest import CHROMIUM
from tests.helpers import eventually

BENCH_AGENT = "bench-connect"


def _worker_has_room(port: int) -> bool:
    info = httpx.get(f"http://127.0.0.1:{port}/worker", timeout=5).json()
    return float(info.get("worker_load", 0)) < 0.7


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    settings = get_settings()
    base = settings.web.base_url
    # A Letta agent of its own (deleted at the end), so no other session of the default agent gets in the way.
    body = {"name": BENCH_AGENT, "persona": "I am a benchmark voice assistant.", "human": "A benchmark."}
    created = httpx.post(f"{base}/api/agents", json=body, timeout=60)
    created.raise_for_status()
    agent = created.json()
    wav = Path(tempfile.mkdtemp()) / "silence.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), " "], check=True)
    results: list[tuple[float, str]] = []
    phases: list[tuple[float, float]] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={wav}%noloop",
            ],
        )  # fmt: skip
        page = browser.new_page()
        for run in range(args.runs):
            eventually(lambda: _worker_has_room(settings.agent.port), 60, interval=0.5, what="worker capacity")
            page.goto(base)
            page.locator(f'#agent-list button[data-agent-id="{agent["id"]}"]').click()
            page.get_by_role("button", name="Connect", exact=True).click()
            expect(page.locator("#session")).to_have_attribute("data-agent", "connected", timeout=60_000)
            t = page.evaluate("window.lvs.timings")
            ms = t["agentConnected"] - t["connectClick"]
            results.append((ms, t["detectedBy"]))
            phases.append((t["sessionReady"] - t["connectClick"], t["roomConnected"] - t["sessionReady"]))
            print(
                f"run {run + 1:2d}: {ms:7.0f} ms (session {phases[-1][0]:.0f} ms, room {phases[-1][1]:.0f} ms,"
                f" agent seen via {t['detectedBy']})",
                flush=True,
            )
            page.get_by_role("button", name="Disconnect", exact=True).click()
            expect(page.locator("#status")).to_have_attribute("data-state", "idle")
        browser.close()
    letta_client(settings).agents.delete(agent["id"])
    times = sorted(ms for ms, _ in results)
    p90 = times[max(0, round(0.9 * len(times)) - 1)]
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    print()
    print(f"### Click Connect -> agent connected (Chromium, {len(times)} runs)")
    print(f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; machine: {cpu}, {os.cpu_count()} cores, "
          f"{platform.system()} {platform.release()}")  # fmt: skip
    print(f"- p50 {statistics.median(times):.0f} ms, p90 {p90:.0f} ms, min {times[0]:.0f} ms, max {times[-1]:.0f} ms")
    print(
        f"- of which (p50): POST /api/sessions {statistics.median(p[0] for p in phases):.0f} ms, "
        f"LiveKit connect {statistics.median(p[1] for p in phases):.0f} ms; the rest is waiting for the agent to join"
    )
    print(f"- agent already in the room at connect: {sum(1 for _, via in results if via == 'list')} of {len(results)}")


if __name__ == "__main__":
    main()
