"""Warm llama.cpp's prompt cache with a Letta agent's prompt, so the first spoken turn is not the cold one.

Letta builds the request it would send (``preview-raw-payload``, nothing is stored in memory); we send that
to the local model for one token. The next real turn shares the whole prefix (system prompt, memory
blocks, history) and llama.cpp processes only the new words. Offline model only.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import httpx

from services.shared.letta import letta_headers
from services.shared.settings import Settings

log = logging.getLogger("lvs.warmup")
PROBE_TEXT = "Hello."


def warm_prompt(settings: Settings, letta_agent_id: str, timeout: float = 90.0) -> float:
    """Seconds spent warming the prompt of ``letta_agent_id``; raises httpx.HTTPError when it cannot."""
    started = time.monotonic()
    with httpx.Client(timeout=timeout) as http:
        res = http.post(
            f"{settings.letta.base_url}/v1/agents/{letta_agent_id}/messages/preview-raw-payload",
            json={"messages": [{"role": "user", "content": PROBE_TEXT}]},
            headers=letta_headers(settings),
        )
        res.raise_for_status()
        payload = warm_request(res.json())
        http.post(f"{settings.llm.local_base_url}/chat/completions", json=payload).raise_for_status()
    return time.monotonic() - started


def warm_request(payload: dict) -> dict:
    """Letta's request for the model, cut to one generated token and made non-streaming."""
    keep = {k: v for k, v in payload.items() if k not in ("stream", "stream_options", "max_tokens")}
    return keep | {"max_completion_tokens": 1, "stream": False, "cache_prompt": True}


def try_warm_prompt(settings: Settings, letta_agent_id: str, timeout: float = 90.0) -> str:
    """warm_prompt as a one-line report that never raises (for `make up` and job starts)."""
    if not settings.llm.is_local:
        return "not needed (cloud model)"
    try:
        seconds = warm_prompt(settings, letta_agent_id, timeout)
    except httpx.HTTPError as exc:
        log.warning("prompt warm-up failed", extra={"letta_agent_id": letta_agent_id, "error": repr(exc)[:200]})
        return f"skipped ({type(exc).__name__})"
    log.info("prompt warmed", extra={"letta_agent_id": letta_agent_id, "seconds": round(seconds, 2)})
    return f"warmed in {seconds:.1f}s"


# A job start warms its agent's prompt only if no other job did in this long: a burst of rooms for one agent
# (a reconnect storm, ten tabs) would otherwise queue ten identical warm-ups on the model it shares.
JOB_WARM_EVERY_S = 60.0


def claim_warm_up(marker: Path, now: float, every: float = JOB_WARM_EVERY_S) -> bool:
    """True when this caller should warm: the marker is missing or older than ``every`` (it is touched)."""
    try:
        if now - marker.stat().st_mtime < every:
            return False
    except FileNotFoundError:
        marker.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    marker.touch()
    os.utime(marker, (now, now))
    return True


def warm_prompt_for_job(settings: Settings, letta_agent_id: str) -> str:
    """try_warm_prompt at a job's start, unless another job of this machine warmed this agent just now."""
    marker = settings.stack.run_dir / "prompt-warm" / letta_agent_id
    if not claim_warm_up(marker, time.time()):
        return "skipped (warmed by another job just now)"
    return try_warm_prompt(settings, letta_agent_id)


class PromptWarming:
    """try_warm_prompt in a background thread: `make up` starts the workers meanwhile (both take seconds)."""

    def __init__(self, thread: threading.Thread, outcome: list[str]) -> None:
        self._thread, self._outcome = thread, outcome

    @classmethod
    def start(cls, settings: Settings, letta_agent_id: str) -> PromptWarming | None:
        """None with a cloud model (nothing to warm)."""
        if not settings.llm.is_local:
            return None
        outcome: list[str] = []
        thread = threading.Thread(
            target=lambda: outcome.append(try_warm_prompt(settings, letta_agent_id)), name="warm-prompt", daemon=True
        )
        thread.start()
        return cls(thread, outcome)

    def result(self, timeout: float = 120.0) -> str:
        """The one-line report, once the warm-up ended (or 'still running' after ``timeout``)."""
        self._thread.join(timeout)
        return self._outcome[0] if self._outcome else "still running"
