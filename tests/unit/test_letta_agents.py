"""Voice agents keep the running conversation; offline ones get a short prompt, no tools, local compaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from services.shared.letta_agents import (
    BASE_TOOL_NAMES,
    OFFLINE_SYSTEM,
    VOICE_TAG,
    ModelNotFound,
    create_voice_agent,
    follow_model_switch,
    resolve_model_handle,
)
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
    attached: dict[str, list[str]] = field(default_factory=dict)  # agent id -> tool names

    def __post_init__(self) -> None:
        self.models = SimpleNamespace(list=lambda: self.offered)
        self.agents = SimpleNamespace(
            create=lambda **kw: self.created.append(kw) or SimpleNamespace(id="agent-new", **kw),
            list=lambda tags, limit: [a for a in self.existing if set(tags) <= set(a.tags)],
            update=lambda agent_id, **kw: self.updates.append((agent_id, kw)),
            tools=SimpleNamespace(
                list=lambda agent_id: [SimpleNamespace(id=f"t-{n}", name=n) for n in self.attached.get(agent_id, [])],
                detach=lambda tool_id, agent_id: self.attached[agent_id].remove(tool_id.removeprefix("t-")),
                attach=lambda tool_id, agent_id: self.attached.setdefault(agent_id, []).append(
                    tool_id.removeprefix("t-")
                ),
            ),
        )
        self.tools = SimpleNamespace(list=lambda name, limit: [SimpleNamespace(id=f"t-{name}", name=name)])


def offered_for(s: Settings) -> list[Any]:
    endpoint = s.llm.local_base_url if s.llm.is_local else s.llm.openai_base_url
    return [SimpleNamespace(model=s.llm.model_name, model_endpoint=endpoint, handle=f"h/{s.llm.model_name}")]


def agent_on(s: Settings, agent_id: str, autoclear: bool) -> Any:
    endpoint = s.llm.local_base_url if s.llm.is_local else s.llm.openai_base_url
    cfg = SimpleNamespace(model=s.llm.model_name, model_endpoint=endpoint)
    return SimpleNamespace(
        id=agent_id, name=agent_id, tags=[VOICE_TAG], llm_config=cfg, message_buffer_autoclear=autoclear
    )


@pytest.mark.parametrize("key", [None, "sk-test"])
def test_a_new_voice_agent_keeps_the_running_conversation(key: str | None) -> None:
    s = settings(key)
    client = FakeLetta(offered_for(s))
    create_voice_agent(client, s, "a", "persona", "human")  # type: ignore[arg-type]
    created = client.created[0]
    assert created["message_buffer_autoclear"] is False and created["tags"] == [VOICE_TAG]
    assert created["agent_type"] == "letta_v1_agent"
    assert created["context_window_limit"] == s.llm.context_window
    assert created["max_tokens"] == s.llm.max_output_tokens


def test_an_offline_agent_has_a_short_prompt_no_tools_and_compacts_with_the_local_model() -> None:
    s = settings(None)
    client = FakeLetta(offered_for(s))
    create_voice_agent(client, s, "a", "persona", "human")  # type: ignore[arg-type]
    created = client.created[0]
    assert created["system"] == OFFLINE_SYSTEM and created["include_base_tools"] is False and created["tools"] == []
    assert created["compaction_settings"] == {"model": f"h/{s.llm.model_name}", "mode": "sliding_window"}
    assert created["model_settings"]["temperature"] < 1


def test_a_cloud_agent_keeps_lettas_prompt_and_tools() -> None:
    client = FakeLetta(offered_for(settings("sk-test")))
    create_voice_agent(client, settings("sk-test"), "a", "persona", "human")  # type: ignore[arg-type]
    created = client.created[0]
    assert not {"system", "include_base_tools", "tools", "compaction_settings"} & created.keys()


def test_moving_to_the_offline_model_detaches_tools_and_back_attaches_them() -> None:
    local, cloud = settings(None), settings("sk-test")
    client = FakeLetta(offered_for(local), existing=[agent_on(cloud, "agent-1", autoclear=False)])
    client.attached["agent-1"] = list(BASE_TOOL_NAMES)
    assert follow_model_switch(client, local) == ["agent-1"]  # type: ignore[arg-type]
    ((agent_id, update),) = client.updates
    assert agent_id == "agent-1" and update["system"] == OFFLINE_SYSTEM and update["model"] == "h/qwen2.5-coder-0.5b"
    assert update["message_buffer_autoclear"] is False and client.attached["agent-1"] == []

    back = FakeLetta(offered_for(cloud), existing=[agent_on(local, "agent-1", autoclear=False)], attached={})
    assert follow_model_switch(back, cloud) == ["agent-1"]  # type: ignore[arg-type]
    assert "system" not in back.updates[0][1] and back.attached["agent-1"] == list(BASE_TOOL_NAMES)


def test_an_agent_of_the_fresh_turn_days_gets_its_history_back_and_a_right_one_is_left_alone() -> None:
    local = settings(None)
    old, right = agent_on(local, "agent-old", autoclear=True), agent_on(local, "agent-ok", autoclear=False)
    client = FakeLetta(offered_for(local), existing=[old, right])
    assert follow_model_switch(client, local) == []  # type: ignore[arg-type]
    assert client.updates == [("agent-old", {"message_buffer_autoclear": False})]


def test_a_model_offered_only_at_another_endpoint_is_named_with_that_endpoint() -> None:
    # Letta keeps the base URL of its first start: the message must show where the model really is
    s = settings(None)
    stale = SimpleNamespace(model=s.llm.model_name, model_endpoint="http://127.0.0.1:12090/v1", handle="h/q")
    with pytest.raises(
        ModelNotFound, match=r"no model .* at http://127\.0\.0\.1:\d+/v1 .*h/q at http://127\.0\.0\.1:12090/v1"
    ):
        resolve_model_handle(FakeLetta([stale]), s)  # type: ignore[arg-type]
