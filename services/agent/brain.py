"""The Letta brain: Letta's OpenAI-compatible chat completions (model = Letta agent id), streamed."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from enum import StrEnum

import httpx2
from livekit.agents import llm
from livekit.plugins import openai

from services.agent.tls import openai_client
from services.shared.letta import letta_client
from services.shared.ownership import owner_from_tags
from services.shared.settings import Settings

log = logging.getLogger("lvs.agent.brain")

# Letta ignores the key on loopback without a password, but the OpenAI client needs a non-empty one.
PLACEHOLDER_KEY = "letta-no-password"


def letta_llm(settings: Settings, letta_agent_id: str) -> openai.LLM:
    """An LLM whose every request goes to POST {letta}/v1/chat/completions for this agent."""
    password = settings.letta.password
    timeout = httpx2.Timeout(connect=5.0, read=settings.letta.timeout, write=10.0, pool=5.0)
    key = password.get_secret_value() if password else PLACEHOLDER_KEY
    return openai.LLM(model=letta_agent_id, client=openai_client(key, settings.letta.openai_url, timeout))


def last_user_turn(chat_ctx: llm.ChatContext) -> llm.ChatContext:
    """Only the newest user message: Letta keeps the history itself and reads just the last one."""
    for item in reversed(chat_ctx.items):
        if item.type == "message" and item.role == "user":
            return llm.ChatContext(items=[item])
    return llm.ChatContext(items=[])


class Lookup(StrEnum):
    FOUND = "found"
    MISSING = "missing"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class AgentLookup:
    """Whether a Letta agent exists (UNAVAILABLE: Letta could not tell us), and its name."""

    result: Lookup
    name: str | None = None
    detail: str = ""
    owner: str | None = None  # the lvs-owner tag's user; None: the admins' agent


def classify_lookup_error(exc: Exception) -> AgentLookup:
    """Map a letta-client error to MISSING (the id is wrong) or UNAVAILABLE (Letta is down/misconfigured)."""
    import letta_client

    if isinstance(exc, letta_client.APIStatusError):
        status = exc.status_code
        if status in (400, 404, 422):
            return AgentLookup(Lookup.MISSING, detail=f"Letta answered {status}")
        return AgentLookup(Lookup.UNAVAILABLE, detail=f"Letta answered {status}")
    return AgentLookup(Lookup.UNAVAILABLE, detail=type(exc).__name__)


async def lookup_agent(settings: Settings, letta_agent_id: str, timeout: float = 8.0) -> AgentLookup:
    """Ask Letta whether the agent exists (letta-client, in a thread)."""

    def _retrieve() -> tuple[str | None, str | None]:
        client = letta_client(settings, timeout=timeout)
        agent = client.agents.retrieve(letta_agent_id, include=["agent.tags"])
        return agent.name, owner_from_tags(getattr(agent, "tags", None))

    try:
        name, owner = await asyncio.wait_for(asyncio.to_thread(_retrieve), timeout + 1)
    except Exception as exc:
        found = classify_lookup_error(exc)
        log.warning("Letta agent lookup failed", extra={"result": found.result, "detail": found.detail})
        return found
    return AgentLookup(Lookup.FOUND, name=name, owner=owner)
