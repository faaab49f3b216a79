"""A new user's first question, as the README promises it: open the page, pick the stack's own assistant,
Connect, ask "What is the capital of France?" aloud, and hear an answer that names Paris.

Real Chromium, real WebRTC, the native stack's offline models; only the microphone is scripted
(tests/browser/scripted_mic.py), so the question is asked once the agent listens, not during its greeting.
The question is spoken by an espeak-ng voice that tuned nothing.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from services.agent.probe import default_agent_id, espeak_wav
from services.shared.settings import Settings
from tests.browser.conftest import page_of
from tests.browser.scripted_mic import SCRIPTED_MIC, heard_after_speech, scripted_mic_browser, speak
from tests.browser.sessions import REPLY_S, connect_to, delete_room
from tests.helpers import log_tail

pytestmark = [pytest.mark.browser]
__all__ = ["scripted_mic_browser"]  # the fixture, imported for this module's tests
QUESTION = "What is the capital of France?"
VOICE = ("en-us+m4", 150)


@pytest.fixture(scope="module")
def question_wav() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "question.wav"
        espeak_wav(QUESTION, path, VOICE)
        return path.read_bytes()


@pytest.fixture
def mic_page(scripted_mic_browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    yield from page_of(scripted_mic_browser, request, SCRIPTED_MIC)


def test_a_spoken_question_gets_a_spoken_answer(stack: Settings, mic_page: Page, question_wav: bytes) -> None:
    page = mic_page
    room = connect_to(page, stack, default_agent_id(stack))
    try:
        agent_lines = page.locator("#transcript li[data-who=agent]")
        if stack.agent.greeting:
            expect(agent_lines.first).to_be_visible(timeout=REPLY_S * 1000)
        expect(page.locator("#agent-state")).to_have_attribute("data-state", "listening", timeout=REPLY_S * 1000)
        answers_before = agent_lines.count()
        speak(page, question_wav)
        heard = page.locator("#transcript li[data-who=user]").last
        expect(heard).to_contain_text(re.compile(r"capital.*france", re.IGNORECASE), timeout=REPLY_S * 1000)
        answer = agent_lines.nth(answers_before)
        expect(answer).to_contain_text(re.compile("paris", re.IGNORECASE), timeout=REPLY_S * 1000)
        # Heard, not only shown: the page's agent meter moved after the question.
        seconds = heard_after_speech(page, REPLY_S)
        print(f"end of the question -> the answer's voice on the page: {seconds * 1000:.0f} ms")
        assert page.page_log.errors == []  # type: ignore[attr-defined]
    except Exception:
        print(log_tail(stack, "agent"))
        raise
    finally:
        if room:
            delete_room(stack, room)
