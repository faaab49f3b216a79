"""A long conversation is compacted between sessions, not on somebody's turn.

Letta compacts an agent's history when the history fills its context window, inside the request of the turn
that filled it. Offline that turn waits for the small model to read and summarise most of the window: 10 s at
a 1,400-token window on 2 cores, over a minute at the 8,192-token default, and the next turn reads the new
prompt from scratch. So when a session ends with its agent's context over LETTA_COMPACT_AT of the window, the
job starts ``python -m services.shared.compaction AGENT_ID`` as a process of its own. That process compacts
through Letta's own summariser (``POST /v1/agents/{id}/summarize``, the agent's compaction settings), then
warms the new prompt, one compaction at a time per machine. The job's process and its slot are not held.

An operator can run it by hand too: ``.stack/venv/bin/python -m services.shared.compaction AGENT_ID [--force]``.
"""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from letta_client import APIError

from services.shared.compaction_registry import registered
from services.shared.letta import letta_client, letta_headers
from services.shared.logging import configure_logging, log_context
from services.shared.prompt_warmup import try_warm_prompt
from services.shared.settings import Settings, get_settings

log = logging.getLogger("lvs.compaction")
COMPACT_TIMEOUT_S = 900.0  # the summary of a full 8k window through the 0.5B model on 2 busy cores
LOCK_FILE = "compaction.lock"


@dataclass(frozen=True)
class Usage:
    """Tokens in an agent's context now, and its window."""

    current: int
    window: int

    @property
    def share(self) -> float:
        return self.current / self.window if self.window > 0 else 0.0


def context_usage(settings: Settings, letta_agent_id: str, timeout: float = 10.0) -> Usage:
    """The agent's context as Letta counts it (raises httpx.HTTPError when Letta cannot tell)."""
    res = httpx.get(
        f"{settings.letta.base_url}/v1/agents/{letta_agent_id}/context",
        headers=letta_headers(settings),
        timeout=timeout,
    )
    res.raise_for_status()
    body = res.json()
    return Usage(int(body.get("context_window_size_current") or 0), int(body.get("context_window_size_max") or 0))


def needs_compaction(usage: Usage, at: float) -> bool:
    """True when the context is at least ``at`` of the window (``at`` 0: compaction between sessions is off)."""
    return at > 0 and usage.window > 0 and usage.share >= at


def compact(settings: Settings, letta_agent_id: str, *, force: bool = False) -> str:
    """Compact the agent's history if it is over the threshold (or ``force``), then warm its prompt."""
    before = context_usage(settings, letta_agent_id)
    if not force and not needs_compaction(before, settings.letta.compact_at):
        return f"not needed ({before.current} of {before.window} tokens)"
    started = time.monotonic()
    client = letta_client(settings, timeout=COMPACT_TIMEOUT_S)
    # Letta's field is the share to evict: it keeps the newest messages that fit in (1 - it) of the window
    # (its own default, 0.3 kept, would leave a conversation compacted at LETTA_COMPACT_AT near the threshold).
    result = client.agents.messages.compact(
        letta_agent_id, compaction_settings={"sliding_window_percentage": 1 - settings.letta.compact_keep}
    )
    after = context_usage(settings, letta_agent_id)
    warmed = try_warm_prompt(settings, letta_agent_id)
    log.info(
        "conversation compacted",
        extra={
            "tokens_before": before.current,
            "tokens_after": after.current,
            "messages_before": result.num_messages_before,
            "messages_after": result.num_messages_after,
            "seconds": round(time.monotonic() - started, 1),
            "prompt": warmed,
        },
    )
    return f"compacted {before.current} -> {after.current} of {after.window} tokens; prompt {warmed}"


def machine_lock(settings: Settings) -> int:
    """A file descriptor holding this machine's compaction lock (blocks while another compaction runs)."""
    settings.stack.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(settings.stack.run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def start_between_sessions(settings: Settings, letta_agent_id: str) -> subprocess.Popen[bytes] | None:
    """At a session's end: when the agent's context is over the threshold, start the compaction process (its
    log lines go where the worker's go). None when it is not needed or Letta cannot tell."""
    try:
        usage = context_usage(settings, letta_agent_id, timeout=3.0)
    except httpx.HTTPError as exc:
        log.info("context size unknown; no compaction", extra={"error": repr(exc)[:200]})
        return None
    if not needs_compaction(usage, settings.letta.compact_at):
        return None
    log.info("compacting between sessions", extra={"tokens": usage.current, "window": usage.window})
    return subprocess.Popen(
        [sys.executable, "-m", "services.shared.compaction", letta_agent_id],
        cwd=Path(__file__).resolve().parents[2],
        start_new_session=True,  # outlives the job process, which exits now
        stdin=subprocess.DEVNULL,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.shared.compaction", description=__doc__.split("\n")[0])
    parser.add_argument("agent_id", help="the Letta agent whose conversation to compact (agent-…)")
    parser.add_argument("--force", action="store_true", help="compact even below LETTA_COMPACT_AT")
    args = parser.parse_args(argv)
    if not args.agent_id.startswith("agent-"):
        parser.error(f"agent_id: a Letta agent id starts with 'agent-' (got {args.agent_id!r})")
    configure_logging("compaction")
    settings = get_settings()
    with log_context(letta_agent_id=args.agent_id), registered(settings):
        fd = machine_lock(settings)
        try:
            print(compact(settings, args.agent_id, force=args.force), flush=True)
        except (httpx.HTTPError, APIError) as exc:  # a 400: nothing left to compact; a 404: no such agent
            log.error("compaction failed", extra={"error": repr(exc)[:300]})
            print(f"error: Letta could not compact {args.agent_id}: {exc}", file=sys.stderr)
            return 1
        finally:
            os.close(fd)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
