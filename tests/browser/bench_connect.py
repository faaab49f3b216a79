"""Benchmark: click Connect -> "agent connected" in real Chromium, over N runs, against the running stack.

Part of `make bench`; alone: .stack/venv/bin/python -m tests.browser.bench_connect --runs 20
Not a test: no goal is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import expect, sync_playwright

from services.shared.letta import letta_client
from services.shared.settings import Settings, get_settings
from tests.bench.report import Section, percentile, summary_ms
from tests.browser.conftest import CHROMIUM
from tests.browser.sessions import worker_has_room
from tests.helpers import eventually

BENCH_AGENT = "bench-connect"


def bench_connect(settings: Settings, runs: int = 20) -> Section:
    """Click Connect -> "agent connected" in Chromium, `runs` times, with a Letta agent of its own."""
    base = settings.web.base_url
    # A Letta agent of its own (deleted at the end), so no other session of the default agent gets in the way.
    body = {"name": BENCH_AGENT, "persona": "I am a benchmark voice assistant.", "human": "A benchmark."}
    created = httpx.post(f"{base}/api/agents", json=body, timeout=60)
    created.raise_for_status()
    agent = created.json()
    wav = Path(tempfile.mkdtemp()) / "silence.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), " "], check=True, timeout=60)
    results: list[tuple[float, str]] = []
    phases: list[tuple[float, float]] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=[
                    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--use-fake-ui-for-media-stream",
                    "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={wav}%noloop",
                ],
            )  # fmt: skip
            page = browser.new_page()
            for run in range(runs):
                eventually(lambda: worker_has_room(settings), 60, interval=0.5, what="worker capacity")
                page.goto(base)
                page.locator(f'#agent-list button[data-agent-id="{agent["id"]}"]').click()
                page.get_by_role("button", name="Connect", exact=True).click()
                expect(page.locator("#session")).to_have_attribute("data-agent", "connected", timeout=60_000)
                t = page.evaluate("window.lvs.timings")
                ms = t["agentConnected"] - t["connectClick"]
                results.append((ms, t["detectedBy"]))
                phases.append((t["sessionReady"] - t["connectClick"], t["roomConnected"] - t["sessionReady"]))
                print(f"  run {run + 1:2d}: {ms:7.0f} ms (agent seen via {t['detectedBy']})", flush=True)
                page.get_by_role("button", name="Disconnect", exact=True).click()
                expect(page.locator("#status")).to_have_attribute("data-state", "idle")
            browser.close()
    finally:
        letta_client(settings).agents.delete(agent["id"])
    section = Section(f"Browser: click Connect -> agent connected (Chromium, {len(results)} runs)")
    seconds = [ms / 1000 for ms, _ in results]
    section.add("click -> agent connected", summary_ms(seconds))
    section.add_samples("browser: click Connect → agent connected", seconds)
    p50 = percentile(seconds, 50) * 1000
    section.add("p50", f"{p50:.0f} ms", "<= 700 ms", p50 <= 700)
    section.notes.append(
        f"of which (p50): POST /api/sessions {statistics.median(p[0] for p in phases):.0f} ms, LiveKit connect "
        f"{statistics.median(p[1] for p in phases):.0f} ms; the rest is waiting for the agent to join; the agent "
        f"was already in the room at connect in {sum(1 for _, via in results if via == 'list')} of {len(results)}"
    )
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    print(bench_connect(get_settings(), args.runs).markdown())


if __name__ == "__main__":
    main()
