"""Test doubles of the web service's two gateways (its own boundary to LiveKit and Letta), and an app fixture.

Only the calls to livekit-server and the Letta server are replaced; everything else in the app is real.
Their contract with the real gateways is checked in tests/unit/test_gateway_contract.py (the fakes) and
tests/stack/test_gateway_contract.py (the real LiveKit and Letta), with the same checks from tests/gateway_contract.py.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from flask import Flask
from pydantic import SecretStr

from services.shared.settings import (
    DeploySettings,
    LettaSettings,
    LiveKitSettings,
    Settings,
    StackSettings,
    WebSettings,
)
from services.web.app import create_app
from services.web.letta_gateway import AgentSummary, LettaError, persona_preview
from services.web.livekit_gateway import LiveKitError
from services.web.policy import ParticipantSnapshot, RoomSnapshot
from services.web.store import Store

pytestmark = pytest.mark.unit

LIVEKIT_SECRET = "lk-secret-" + "Z9q" * 12  # distinctive, so a leak is easy to find
LETTA_PASSWORD = "letta-password-Q7w" + "x" * 10
AGENT_ID = "agent-7bbda8ee-5779-4950-b35a-058818397202"
OTHER_AGENT_ID = "agent-00000000-0000-4000-8000-000000000001"


def make_settings(deploy: DeploySettings | None = None, **web: object) -> Settings:
    base = Settings()
    return base.model_copy(
        update={
            "stack": StackSettings(dir=Path(tempfile.mkdtemp(prefix="lvs-web-test-"))),
            "deploy": deploy or DeploySettings(),
            "livekit": LiveKitSettings(api_key="testkey", api_secret=SecretStr(LIVEKIT_SECRET)),
            "letta": LettaSettings(password=SecretStr(LETTA_PASSWORD)),
            "web": WebSettings(**web),
        }
    )


@dataclass
class FakeLiveKit:
    """In-memory rooms with the same interface as LiveKitGateway."""

    settings: Settings
    down: bool = False
    rooms: dict[str, RoomSnapshot] = field(default_factory=dict)
    dispatches: list[tuple[str, str, str]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    rival_on_open: RoomSnapshot | None = None  # a room another worker created at the same moment
    # A racing request's takeover between our room and its dispatch: it deletes our room and opens its own;
    # the real livekit-server then refuses the dispatch into the deleted room ("unavailable").
    takeover_on_open: RoomSnapshot | None = None

    def _check(self) -> None:
        if self.down:
            raise LiveKitError("livekit-server is unreachable")

    def ping(self, timeout: float = 2.0) -> bool:
        return not self.down

    def rooms_for(self, letta_agent_id: str) -> list[RoomSnapshot]:
        self._check()
        prefix = self.settings.recovery.room_prefix
        return [r for r in self.rooms.values() if r.name.startswith(prefix) and r.letta_agent_id == letta_agent_id]

    def sessions(self) -> list[RoomSnapshot]:
        self._check()
        prefix = self.settings.recovery.room_prefix
        return sorted((r for r in self.rooms.values() if r.name.startswith(prefix)), key=lambda r: r.created_ms)

    def room(self, name: str) -> RoomSnapshot | None:
        self._check()
        return self.rooms.get(name)

    def open_session(self, room: str, letta_agent_id: str, user: str = "", admin: bool = True) -> None:
        self._check()
        now_ms = int(time.time() * 1000)
        if self.takeover_on_open is not None:
            self.deleted.append(room)
            self.rooms[self.takeover_on_open.name] = self.takeover_on_open
            raise LiveKitError("livekit-server refused the call: unavailable")
        self.rooms[room] = RoomSnapshot(room, letta_agent_id, True, now_ms, user=user)
        self.dispatches.append((room, self.settings.agent.name, letta_agent_id))
        if self.rival_on_open is not None:
            self.rooms[self.rival_on_open.name] = self.rival_on_open

    def delete_room(self, name: str) -> None:
        self._check()
        self.rooms.pop(name, None)
        self.deleted.append(name)

    def add_room(
        self, name: str, letta_agent_id: str, age_s: float, humans: int = 0, ours: bool = True, user: str = ""
    ) -> None:
        people = tuple(ParticipantSnapshot(f"user-{i}", False) for i in range(humans))
        created = int((time.time() - age_s) * 1000)
        self.rooms[name] = RoomSnapshot(name, letta_agent_id, ours, created, people, user=user)


@dataclass
class FakeLetta:
    """In-memory agents with the same interface as LettaGateway."""

    down: bool = False
    agents: dict[str, AgentSummary] = field(
        default_factory=lambda: {AGENT_ID: AgentSummary(AGENT_ID, "voice-assistant", "I am friendly.")}
    )

    def _check(self) -> None:
        if self.down:
            raise LettaError("Letta is unreachable")

    def ping(self, timeout: float = 2.0) -> bool:
        return not self.down

    def list_agents(self) -> list[AgentSummary]:
        self._check()
        return list(self.agents.values())

    def get_agent(self, agent_id: str) -> AgentSummary | None:
        self._check()
        agent = self.agents.get(agent_id)
        return None if agent is None else replace(agent, persona="")  # a lookup does not fetch the persona

    def create_agent(self, name: str, persona: str, human: str, owner: str | None = None) -> AgentSummary:
        self._check()
        agent_id = f"agent-{len(self.agents):08d}-0000-4000-8000-000000000000"
        agent = AgentSummary(agent_id, name, persona_preview(persona), owner)
        self.agents[agent.id] = agent
        return agent


@dataclass
class Harness:
    app: Flask
    livekit: FakeLiveKit
    letta: FakeLetta
    settings: Settings


def fast_store(path: Path) -> Store:
    """The real store with cheap argon2 parameters (the defaults cost ~50 ms a hash, by design)."""
    return Store(path, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def second_worker(h: Harness) -> Flask:
    """Another app on the same store file: what a second gunicorn worker sees."""
    store = fast_store(h.app.extensions["store"].path)
    return create_app(h.settings, livekit=h.livekit, letta=h.letta, configure_logs=False, store=store)  # type: ignore[arg-type]


def build(**web: object) -> Harness:
    settings = make_settings(**web)
    livekit, letta = FakeLiveKit(settings), FakeLetta()
    store = fast_store(settings.stack.data_dir / "web" / "web.db")
    app = create_app(settings, livekit=livekit, letta=letta, configure_logs=False, store=store)  # type: ignore[arg-type]
    app.config["TESTING"] = True
    return Harness(app, livekit, letta, settings)
