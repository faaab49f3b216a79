"""Fresh Letta voice agents for the benches: made like the default one, without its history, deleted after."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from services.shared.letta import letta_client
from services.shared.letta_agents import create_voice_agent
from services.shared.settings import Settings


@contextlib.contextmanager
def fresh_letta_agents(settings: Settings, count: int, purpose: str = "capacity") -> Iterator[list[str]]:
    """`count` new Letta voice agents like the default one (model, persona), without its history; deleted after.

    Not the default agent: its history grows with every test and bench, so a figure taken through it depends on
    how much was said before (a turn's prompt is read against all of it), and near the context window a turn
    waits for Letta to summarise it through the model.
    """
    client = letta_client(settings, timeout=60.0)
    ids: list[str] = []
    try:
        for i in range(count):
            name = f"bench-{purpose}-{i + 1}-{uuid.uuid4().hex[:6]}"
            letta = settings.letta
            ids.append(create_voice_agent(client, settings, name, letta.default_persona, letta.default_human).id)
        yield ids
    finally:
        for agent_id in ids:
            with contextlib.suppress(Exception):
                client.agents.delete(agent_id)
