"""Real Chromium (Debian's /usr/bin/chromium) driven by Playwright, with a spoken WAV as the microphone."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import subprocess
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

from services.shared.letta import letta_client
from services.shared.livekit import livekit_api
from services.shared.settings import Settings

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"


def run_async(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine on a fresh loop in another thread (Playwright's sync API owns this thread's loop)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()  # type: ignore[arg-type]


def livekit_call(settings: Settings, call: Callable[[Any], Awaitable[T]]) -> T:
    async def main() -> T:
        async with livekit_api(settings) as lk:
            return await call(lk)

    return run_async(main)


def join_link(base_url: str, session: dict[str, Any]) -> str:
    """The page URL that joins an existing session (kept in the fragment, never sent to the server)."""
    offer = {k: session[k] for k in ("url", "token", "room", "identity", "agent_id") if k in session}
    return f"{base_url}/#join={urllib.parse.quote(json.dumps(offer))}"


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("speech") / "hello.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "Hello. My name is Ada. How are you today?"], check=True, timeout=60)
    return path


CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--use-fake-ui-for-media-stream",
)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    """One Playwright driver for the session (its sync API cannot be started twice at once)."""
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Playwright, speech_wav: Path) -> Iterator[Browser]:
    """Chromium whose fake microphone plays ``speech_wav`` once, from the moment the page opens it."""
    launched = playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={speech_wav}%noloop",
            "--autoplay-policy=user-gesture-required",
        ],
    )
    yield launched
    launched.close()


class PageLog:
    """Console errors, CSP violations and uncaught exceptions of one page."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error" or "Content Security Policy" in msg.text:
            self.errors.append(f"{msg.type}: {msg.text}")

    def csp_violations(self) -> list[str]:
        return [e for e in self.errors if "Content Security Policy" in e]


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    yield from page_of(browser, request)


def page_of(browser: Browser, request: pytest.FixtureRequest, init_script: str | None = None) -> Iterator[Page]:
    """A page in a new context of ``browser``; on a failed test, its screenshot and errors are kept."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    if init_script:
        context.add_init_script(init_script)
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    pg.page_log = PageLog(pg)  # type: ignore[attr-defined]
    yield pg
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"failed-{request.node.name}.png"), full_page=True)
        print("page errors:", *pg.page_log.errors, sep="\n  ")  # type: ignore[attr-defined]
        if pg.locator("#status").count():
            print("page status:", pg.locator("#status").inner_text())
    context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def letta_agent(stack: Settings) -> Iterator[dict[str, str]]:
    """A fresh Letta agent made through the web API (so no other test's session blocks it); deleted after."""
    response = httpx.post(
        f"{stack.web.base_url}/api/agents",
        json={"name": "browser-test", "persona": "I am a test voice assistant. I answer briefly.", "human": "A test."},
        timeout=60,
    )
    assert response.status_code == 201, response.text
    agent = response.json()
    yield agent
    try:
        letta_client(stack).agents.delete(agent["id"])
    except Exception as exc:  # Letta restarted by another test: leave the agent, say so
        print(f"could not delete test agent {agent['id']}: {exc!r}")
