"""The voice Agent: each user turn goes to the Letta agent; faults become a short spoken sorry."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable

from livekit.agents import Agent, llm
from livekit.agents.voice import ModelSettings

from services.agent import metrics
from services.agent.brain import last_user_turn, letta_llm
from services.agent.spoken import SpokenFilter
from services.shared.settings import Settings

log = logging.getLogger("lvs.agent.voice")

SORRY_UNAVAILABLE = "Sorry, I cannot reach my memory right now. Please try again in a moment."
SORRY_INTERRUPTED = "Sorry, I lost my train of thought."
SORRY_EMPTY = "Sorry, I have no answer to that."
NOT_FOUND = "Sorry, I cannot find that assistant. Please pick another one. Goodbye."
SWITCH_FAILED = "I cannot find that assistant, so I stay with the current one."

# Letta holds the persona and memory; livekit-agents needs some instructions all the same.
INSTRUCTIONS = "You are a voice assistant. Your persona and memory live in Letta."


def switched_to(name: str | None) -> str:
    """The sentence spoken after a successful switch."""
    return f"Switched. You are now talking to {name}." if name else "Switched to the new assistant."


class LettaVoiceAgent(Agent):
    """One Letta agent behind the voice pipeline; a switch replaces this object with another."""

    def __init__(
        self,
        settings: Settings,
        letta_agent_id: str,
        announce: str | None = None,
        brain: llm.LLM | None = None,
    ) -> None:
        super().__init__(instructions=INSTRUCTIONS, llm=brain or letta_llm(settings, letta_agent_id))
        self.letta_agent_id = letta_agent_id
        self._announce = announce

    async def on_enter(self) -> None:
        if self._announce:
            self.session.say(self._announce)

    async def llm_node(
        self, chat_ctx: llm.ChatContext, tools: list[llm.Tool], model_settings: ModelSettings
    ) -> AsyncIterable[llm.ChatChunk | str]:
        """Stream Letta's reply, minus tool-call text; on an error or an empty reply, a short spoken sorry."""
        spoke = False
        spoken = SpokenFilter()
        try:
            async for chunk in Agent.default.llm_node(self, last_user_turn(chat_ctx), [], model_settings):
                text = spoken.feed(_text_of(chunk))
                if text:
                    spoke = spoke or bool(text.strip())
                    yield text
                elif not isinstance(chunk, str) and not _text_of(chunk):
                    yield chunk  # usage and other content-free chunks
            text = spoken.finish()
            if text.strip():
                spoke = True
                yield text
        except Exception as exc:
            metrics.FAULTS.labels(kind="letta").inc()
            log.error(
                "Letta turn failed",
                extra={"letta_agent_id": self.letta_agent_id, "error": repr(exc)[:300]},
            )
            yield SORRY_INTERRUPTED if spoke else SORRY_UNAVAILABLE
            return
        if spoken.dropped:
            metrics.FAULTS.labels(kind="tool_call_text").inc()
            log.warning(
                "dropped tool-call text from the reply",
                extra={"letta_agent_id": self.letta_agent_id, "chars": spoken.dropped},
            )
        if not spoke:
            metrics.FAULTS.labels(kind="empty_reply").inc()
            log.warning("Letta returned an empty reply", extra={"letta_agent_id": self.letta_agent_id})
            yield SORRY_EMPTY


def _text_of(chunk: llm.ChatChunk | str) -> str:
    if isinstance(chunk, str):
        return chunk
    delta = getattr(chunk, "delta", None)
    return (delta.content or "") if delta else ""
