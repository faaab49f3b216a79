"""Voice agents on the offline model start each turn fresh; a model switch moves them and restores history."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from services.shared.letta_agents import VOICE_TAG, create_voice_agent, follow_model_switch
from services.shared.settings import LLMSettings, Settings

pytestmark = pytest.mark.unit


def settings(openai_key: str | None) -> Settings:
    llm = {"provider": "openai", "OPENAI_API_KEY": openai_key} if openai_key else {"provider": "local"}
    return Settings(_env_file=None, llm=LLMSettings(_env_file=None, **llm))


@dataclass
class FakeLetta:
    """The slice of letta_client.Letta these functions use: models.list, agents.create/list/update."""

    offered: list[Any]
    existing: list[Any] = field(default_factory=list)
    created: list[dict[str, Any]] = field(default_factory=list)
    updates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.models = SimpleNamespace(list=lambda: self.offered)
        self.agents = SimpleNamespace(
            create=lambda **kw: self.created.append(kw) or SimpleNamespace(id="agent-new", **kw),
            list=lambda tags, limit: [a for a in self.existing if set(tags) <= set(a.tags)],
            update=lambda agent_id, **kw: self.updates.append((agent_id, kw)),
        )


def offered_for(s: Settings) -> list[Any]:
    endpoint = s.llm.local_base_url if s.llm.is_local else s.llm.openai_base_url
    return [SimpleNamespace(model=s.llm.model_name, model_endpoint=endpoint, handle=f"h/{s.llm.model_name}")]


def agent_on(s: Settings, agent_id: str, autoclear: bool) -> Any:
    endpoint = s.llm.local_base_url if s.llm.is_local else s.llm.openai_base_url
    cfg = SimpleNamespace(model=s.llm.model_name, model_endpoint=endpoint)
    return SimpleNamespace(
        id=agent_id, name=agent_id, tags=[VOICE_TAG], llm_config=cfg, message_buffer_autoclear=autoclear
    )


@pytest.mark.parametrize(("key", "autoclear"), [(None, True), ("sk-test", False)])
def test_a_new_voice_agent_starts_turns_fresh_only_on_the_offline_model(key: str | None, autoclear: bool) -> None:
    s = settings(key)
    client = FakeLetta(offered_for(s))
    create_voice_agent(client, s, "a", "persona", "human")  # type: ignore[arg-type]
    assert client.created[0]["message_buffer_autoclear"] is autoclear
    assert client.created[0]["tags"] == [VOICE_TAG]


def test_moving_to_a_real_model_restores_the_running_history() -> None:
    local, cloud = settings(None), settings("sk-test")
    client = FakeLetta(offered_for(cloud), existing=[agent_on(local, "agent-1", autoclear=True)])
    assert follow_model_switch(client, cloud) == ["agent-1"]  # type: ignore[arg-type]
    ((agent_id, update),) = client.updates
    assert agent_id == "agent-1" and update["message_buffer_autoclear"] is False and update["model"].startswith("h/")


def test_an_offline_agent_from_before_gets_fresh_turns_and_a_right_one_is_left_alone() -> None:
    local = settings(None)
    old, right = agent_on(local, "agent-old", autoclear=False), agent_on(local, "agent-ok", autoclear=True)
    client = FakeLetta(offered_for(local), existing=[old, right])
    assert follow_model_switch(client, local) == []  # type: ignore[arg-type]
    assert client.updates == [("agent-old", {"message_buffer_autoclear": True})]
