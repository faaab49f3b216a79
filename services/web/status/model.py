"""The model in use and what it can do, in words an operator can act on."""

from __future__ import annotations

from services.shared.settings import Settings


def model_info(settings: Settings) -> dict[str, object]:
    """Provider, model, speech providers and the capabilities that follow from them (no keys, no URLs)."""
    llm, agent = settings.llm, settings.agent
    if not llm.is_local:
        can = [
            "holds a real conversation",
            "Letta's memory tools work: it remembers facts across sessions",
        ]
        cannot: list[str] = []
    elif llm.gguf_path is None:
        can = ["proves the voice pipeline end to end"]
        cannot = [
            "hold a real conversation (a 135M demo model)",
            "remember new facts (no memory tool calls)",
        ]
    else:
        can = ["answers simple questions in a sentence or two", "keeps each session's turns in Letta"]
        cannot = ["store new facts in memory offline (its tool calls are not parsed into Letta's memory tools)"]
    return {
        "provider": llm.resolved_provider.value,
        "model": llm.model_name,
        "local": llm.is_local,
        "local_file": llm.gguf_path.name if llm.gguf_path else None,
        "context_window": llm.context_window,
        "max_output_tokens": llm.max_output_tokens,
        "stt": agent.stt.value,
        "tts": agent.tts.value,
        "can": can,
        "cannot": cannot,
    }
