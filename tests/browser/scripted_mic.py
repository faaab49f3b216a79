"""A scripted microphone for the page in real Chromium: getUserMedia gets a Web Audio stream, and the test
plays a spoken WAV into it when it chooses (Chromium's file-backed fake microphone plays from the moment the
page opens it). Then it times what the person hears: the end of the speech -> the first frame the page's
agent meter draws a moving voice.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.helpers import eventually

# The page's microphone: a Web Audio destination; window.__testSpeak(wavBase64) plays a WAV into it and
# resolves with its duration once it has played; window.__testMic.heardAt - endedAt is then the time to the
# first frame the page's agent meter moved.
SCRIPTED_MIC = """
(() => {
  const mic = { ctx: null, dest: null };
  const ready = () => {
    if (!mic.ctx) {
      mic.ctx = new AudioContext({ sampleRate: 48000 });
      mic.dest = mic.ctx.createMediaStreamDestination();
    }
    return mic;
  };
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    if (!constraints || !constraints.audio || constraints.video) {
      throw new DOMException("the scripted microphone has audio only", "NotAllowedError");
    }
    const { ctx, dest } = ready();
    await ctx.resume(); // a microphone sends (silent) audio from the moment it opens, not from the first word
    // A stereo microphone (as many USB and laptop ones) that captures in mono when the page asks for it, as
    // Chromium's capture does; a Web Audio track always says 2 channels, so its settings say what is captured.
    const asked = constraints.audio.channelCount;
    const channels = typeof asked === "number" ? asked : (asked && (asked.exact || asked.ideal)) || 2;
    return new MediaStream(dest.stream.getAudioTracks().map((track) => {
      const captured = track.clone();
      const settings = captured.getSettings.bind(captured);
      captured.getSettings = () => ({ ...settings(), channelCount: channels });
      return captured;
    }));
  };
  window.__testSpeak = async (wavBase64) => {
    const { ctx, dest } = ready();
    await ctx.resume();
    const bytes = Uint8Array.from(atob(wavBase64), (c) => c.charCodeAt(0));
    const buffer = await ctx.decodeAudioData(bytes.buffer);
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(dest);
    await new Promise((resolve) => { source.onended = resolve; source.start(); });
    // From here: the first frame the page's agent meter draws a moving voice (what the person hears).
    mic.endedAt = performance.now();
    mic.heardAt = null;
    const frames = window.lvs.visual.agentFrames;
    const watch = () => {
      if (window.lvs.visual.agentFrames > frames) mic.heardAt = performance.now();
      else requestAnimationFrame(watch);
    };
    requestAnimationFrame(watch);
    return buffer.duration;
  };
  window.__testMic = mic;
})();
"""


def launch(playwright: Playwright) -> Browser:
    """Chromium for the scripted microphone (audio may play without a click: the test speaks, not a person)."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"]
    )


def speak(page: Page, wav: bytes) -> float:
    """Play ``wav`` into the page's microphone; returns its duration (s) once it has played."""
    return float(page.evaluate("wav => window.__testSpeak(wav)", base64.b64encode(wav).decode()))


def heard_after_speech(page: Page, timeout: float) -> float:
    """Seconds from the end of the last speech to the first frame the page's agent meter moved."""
    eventually(lambda: page.evaluate("window.__testMic.heardAt !== null"), timeout, interval=0.1, what="the answer")
    return float(page.evaluate("window.__testMic.heardAt - window.__testMic.endedAt")) / 1000


@pytest.fixture(scope="module")
def scripted_mic_browser(playwright: Playwright) -> Iterator[Browser]:
    launched = launch(playwright)
    yield launched
    launched.close()
