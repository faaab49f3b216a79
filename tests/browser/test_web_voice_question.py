"""A new user's first question, as the README promises it: open the page, pick the stack's own assistant,
Connect, ask "What is the capital of France?" aloud, and hear an answer that names Paris.

Real Chromium, real WebRTC, the native stack's offline models; only the microphone is scripted
(tests/browser/scripted_mic.py), so the question is asked once the agent listens, not during its greeting,
or, in the second test, before the agent has joined at all (the page's pre-connect buffer keeps it).
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
from tests.browser.sessions import JOIN_S, REPLY_S, connect_to, room_of_the_test, worker_has_room
from tests.helpers import eventually, job_processes_paused

pytestmark = [pytest.mark.browser]
__all__ = ["scripted_mic_browser"]  # the fixture, imported for this module's tests
QUESTION = "What is the capital of France?"
VOICE = ("en-us+m4", 150)
MIC_PUBLISHED = "!!(window.lvs.room && window.lvs.room.localParticipant.getTrackPublication('microphone'))"


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
    with room_of_the_test(stack) as room:
        room.name = connect_to(page, stack, default_agent_id(stack))
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


def test_a_question_asked_before_the_agent_joins_is_heard_from_its_first_word(
    stack: Settings, mic_page: Page, question_wav: bytes
) -> None:
    """Asked the moment the page's microphone is on, before any agent is in the room: the page records the
    microphone until the agent listens (LiveKit's pre-connect buffer) and the agent hears it from its first word.
    The agent is held back deterministically: the workers' job processes are paused while the question is
    spoken, so the dispatched job starts only after it (the old page and agent lost the first words here)."""
    page = mic_page
    eventually(lambda: worker_has_room(stack), JOIN_S, interval=1, what="the agent worker to have room")
    page.goto(stack.web.base_url)
    page.locator(f'#agent-list button[data-agent-id="{default_agent_id(stack)}"]').click()
    with room_of_the_test(stack) as room:
        with job_processes_paused(stack) as paused:
            assert paused > 0, "no job process to pause: the workers keep no idle process"
            page.get_by_role("button", name="Connect", exact=True).click()
            eventually(lambda: page.evaluate(MIC_PUBLISHED), JOIN_S, interval=0.05, what="the page's microphone")
            room.name = page.locator("#session").get_attribute("data-room")
            speak(page, question_wav)
            assert page.evaluate("window.lvs.agent === null"), "an agent joined while the job processes were paused"
        heard = page.locator("#transcript li[data-who=user] .words").first
        # its first words, which the agent was not there to hear (the rest: "France" is heard as "and friends"
        # in about 1 of 5 runs from the recording, so the answer is the first test's to check)
        first_words = re.compile(r"^\W*what\W+is\W+the\W+capital\b", re.IGNORECASE)
        expect(heard).to_contain_text(first_words, timeout=REPLY_S * 1000)
        assert page.page_log.errors == []  # type: ignore[attr-defined]
