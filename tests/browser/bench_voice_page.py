"""Benchmark: offline voice-to-voice as the person at the page meets it, in real Chromium over 20 turns.

End of the question played into the page's microphone -> the first frame the page's agent meter draws the
answer's voice (tests/browser/scripted_mic.py). The same sentence and espeak-ng voice as the `voice` bench,
whose caller is a Python client at the SFU: the difference is the browser's side of WebRTC and its audio
output. A new Letta agent made like the default one (through the web API), its prompt read once before.

Part of `make bench`; alone: .stack/venv/bin/python -m tests.browser.bench_voice_page --turns 20
Not a test: no goal is asserted.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import httpx
import psutil
from playwright.sync_api import expect, sync_playwright

from services.agent.probe import espeak_wav
from services.shared.letta import letta_client
from services.shared.prompt_warmup import warm_prompt
from services.shared.settings import Settings, get_settings
from tests.bench.bench_capacity import process_roots
from tests.bench.bench_voice import SENTENCE
from tests.bench.report import Goal, Section, percentile, summary_ms
from tests.bench.sampler import TreeSampler, Usage
from tests.browser.scripted_mic import SCRIPTED_MIC, heard_after_speech, launch, speak

TURN_S = 60.0


def chromium_roots() -> list[int]:
    """Pids of the Chromium browsers this process launched (through Playwright's driver), each a tree's root."""

    def is_chromium(proc: psutil.Process) -> bool:
        try:
            return "chrom" in proc.name()
        except psutil.Error:
            return False

    found = [p for p in psutil.Process().children(recursive=True) if is_chromium(p)]
    return [p.pid for p in found if not any(is_chromium(parent) for parent in p.parents())]


def bench_voice_page(settings: Settings, turns: int = 20) -> Section:
    base = settings.web.base_url
    letta = settings.letta
    body = {"name": "bench-voice-page", "persona": letta.default_persona, "human": letta.default_human}
    created = httpx.post(f"{base}/api/agents", json=body, timeout=60)
    created.raise_for_status()
    agent = created.json()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "turn.wav"
        espeak_wav(SENTENCE, path)
        wav = path.read_bytes()
    samples: list[float] = []
    usage: dict[str, Usage] = {}
    try:
        warm_prompt(settings, agent["id"])
        with sync_playwright() as pw:
            browser = launch(pw)
            context = browser.new_context()
            context.add_init_script(SCRIPTED_MIC)
            page = context.new_page()
            page.goto(base)
            page.locator(f'#agent-list button[data-agent-id="{agent["id"]}"]').click()
            page.get_by_role("button", name="Connect", exact=True).click()
            expect(page.locator("#session")).to_have_attribute("data-agent", "connected", timeout=TURN_S * 1000)
            listening = page.locator('#agent-state[data-state="listening"]')
            roots = {"chromium": chromium_roots(), **process_roots(settings)}
            with TreeSampler(roots) as sampler:
                for turn in range(turns):
                    expect(listening).to_be_visible(timeout=TURN_S * 1000)  # the greeting or the last answer done
                    speak(page, wav)
                    samples.append(heard_after_speech(page, TURN_S))
                    print(f"  turn {turn + 1:2d}: {samples[-1] * 1000:6.0f} ms", flush=True)
                    expect(page.locator('#agent-state[data-state="speaking"]')).to_be_visible(timeout=TURN_S * 1000)
            usage = {name: sampler.usage(name) for name in roots}
            page.get_by_role("button", name="Disconnect", exact=True).click()
            browser.close()
    finally:
        letta_client(settings).agents.delete(agent["id"])
    section = Section(f"Offline voice-to-voice at the page (Chromium, {len(samples)} turns, one session)")
    section.add("end of speech -> the answer's voice on the page", summary_ms(samples))
    section.add_samples("page: end of speech → the answer's voice", samples, (Goal(1.2, 50),))
    p50, p95 = percentile(samples, 50) * 1000, percentile(samples, 95) * 1000
    section.add("p50", f"{p50:.0f} ms", "<= 1200 ms", p50 <= 1200)
    section.add("p95", f"{p95:.0f} ms", "<= 2000 ms", p95 <= 2000)
    section.add(
        "CPU over the turns, % of one core (2 cores)",
        ", ".join(f"{name} {use.cpu_mean:.0f}%" for name, use in usage.items()),
    )
    section.notes.append(
        "CPU: chromium = the browser's process tree (the page, WebRTC, audio, the meters), agent = the agent"
        " workers, stack = every supervised program (the agent workers included)"
    )
    section.notes.append(
        f"models: STT {settings.agent.stt.value}, TTS {settings.agent.tts.value}, LLM {settings.llm.model_name}"
    )
    section.notes.append(
        "a new Letta agent made like the default one (no history), its prompt read once before; the voice bench's"
        f" sentence ({SENTENCE!r}) and voice; measured at the page's agent meter (its first moving frame)"
    )
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20)
    args = parser.parse_args()
    print(bench_voice_page(get_settings(), args.turns).markdown())


if __name__ == "__main__":
    main()
