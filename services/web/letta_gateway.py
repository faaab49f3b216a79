"""The web service's calls to the Letta server (letta-client SDK), as plain data in and out.

Unit tests replace this object (app.extensions["letta"]) at this boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from letta_client import APIConnectionError, APIStatusError, Letta, NotFoundError

from services.shared.letta import letta_client, letta_headers
from services.shared.letta_agents import ModelNotFound, create_voice_agent
from services.shared.ownership import owner_from_tags
from services.shared.settings import Settings

PERSONA_PREVIEW_CHARS = 160
MAX_AGENTS_LISTED = 500


class LettaError(Exception):
    """The Letta server could not be reached or failed the call."""


@dataclass(frozen=True)
class AgentSummary:
    id: str
    name: str
    persona: str
    owner: str | None = None  # from the lvs-owner tag; None: the admins' (never sent to the page)

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "persona": self.persona}


def summarize(agent: Any) -> AgentSummary:
    """id, name and the start of the persona block of a letta-client AgentState."""
    blocks = list(getattr(agent, "blocks", None) or [])
    memory = getattr(agent, "memory", None)
    if not blocks and memory is not None:
        blocks = list(getattr(memory, "blocks", None) or [])
    persona = persona_preview(next((b.value for b in blocks if getattr(b, "label", None) == "persona"), "") or "")
    owner = owner_from_tags(getattr(agent, "tags", None))
    return AgentSummary(id=agent.id, name=agent.name or "", persona=persona, owner=owner)


def persona_preview(persona: str) -> str:
    """The start of a persona, as the agent list shows it."""
    if len(persona) > PERSONA_PREVIEW_CHARS:
        return persona[: PERSONA_PREVIEW_CHARS - 1].rstrip() + "…"
    return persona


def create_agent_call(
    client: Letta, settings: Settings, name: str, persona: str, human: str, owner: str | None = None
) -> Any:
    """The one place that creates a Letta agent: the stack's shared recipe (model, embeddings, limits)."""
    return create_voice_agent(client, settings, name, persona, human, owner=owner)


class LettaGateway:
    """List, look up and create Letta agents; check the server's health."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _client(self, timeout: float = 10.0) -> Letta:
        return letta_client(self.settings, timeout=timeout).with_options(max_retries=1)

    def ping(self, timeout: float = 2.0) -> bool:
        """True when GET /v1/health/ answers 200."""
        url = f"{self.settings.letta.base_url}/v1/health/"
        try:
            return httpx.get(url, headers=letta_headers(self.settings), timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    def list_agents(self) -> list[AgentSummary]:
        try:
            page = self._client().agents.list(include=["agent.blocks", "agent.tags"], limit=100)
            found: list[AgentSummary] = []
            for agent in page:
                found.append(summarize(agent))
                if len(found) >= MAX_AGENTS_LISTED:
                    break
            return found
        except (APIConnectionError, APIStatusError, httpx.HTTPError) as exc:
            raise LettaError(_describe(exc)) from exc

    def get_agent(self, agent_id: str) -> AgentSummary | None:
        """The agent (persona left empty, owner filled in), or None when Letta has no such agent."""
        try:
            # Only the tags: a quick lookup (~2x faster than all relationships); sessions need id, name, owner.
            return summarize(self._client().agents.retrieve(agent_id, include=["agent.tags"]))
        except NotFoundError:
            return None
        except APIStatusError as exc:
            if exc.status_code in (400, 404, 422):  # Letta answers these for malformed ids
                return None
            raise LettaError(_describe(exc)) from exc
        except (APIConnectionError, httpx.HTTPError) as exc:
            raise LettaError(_describe(exc)) from exc

    def create_agent(self, name: str, persona: str, human: str, owner: str | None = None) -> AgentSummary:
        """A new voice agent, tagged as ``owner``'s (None: untagged, the admins')."""
        try:
            client = self._client(timeout=30.0)
            return summarize(create_agent_call(client, self.settings, name, persona, human, owner))
        except ModelNotFound as exc:
            raise LettaError("the configured model is not available in Letta") from exc
        except (APIConnectionError, APIStatusError, httpx.HTTPError) as exc:
            raise LettaError(_describe(exc)) from exc


def _describe(exc: Exception) -> str:
    if isinstance(exc, APIStatusError):
        return f"Letta answered HTTP {exc.status_code}"
    return "Letta is unreachable"
