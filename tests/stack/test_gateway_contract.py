"""The real web gateways against the contract the unit tests' fakes follow (tests/unit/test_gateway_contract.py).

The same checks (tests/gateway_contract.py) run here on the running livekit-server and Letta server: when a
fake and the real service disagree, one of the two sides fails.
"""

from __future__ import annotations

import socket

import pytest

from services.shared.letta import letta_client
from services.shared.settings import Settings
from services.web.letta_gateway import LettaGateway
from services.web.livekit_gateway import LiveKitGateway
from tests import gateway_contract as contract
from tests.helpers import log_tail

pytestmark = pytest.mark.stack


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _any_agent_id(stack: Settings) -> str:
    agents = LettaGateway(stack).list_agents()
    assert agents, "the stack has no Letta agent (make up creates one)"
    return agents[0].id


def test_real_livekit_follows_the_contract(stack: Settings) -> None:
    agent_id = _any_agent_id(stack)
    try:
        contract.check_livekit_session(
            LiveKitGateway(stack), stack.recovery.room_prefix, agent_id, contract.UNKNOWN_AGENT_ID
        )
    except AssertionError:
        print(log_tail(stack, "livekit"))
        raise


def test_real_livekit_down_follows_the_contract(stack: Settings) -> None:
    port = _closed_port()
    down = stack.model_copy(update={"livekit": stack.livekit.model_copy(update={"url": f"ws://127.0.0.1:{port}"})})
    contract.check_livekit_unreachable(LiveKitGateway(down), stack.recovery.room_prefix)


def test_real_letta_follows_the_contract(stack: Settings) -> None:
    client = letta_client(stack, timeout=30.0)
    try:
        contract.check_letta_agents(
            LettaGateway(stack), "contract-agent", lambda agent_id: client.agents.delete(agent_id)
        )
    except AssertionError:
        print(log_tail(stack, "letta"))
        raise


def test_real_letta_down_follows_the_contract(stack: Settings) -> None:
    port = _closed_port()
    down = stack.model_copy(update={"letta": stack.letta.model_copy(update={"base_url": f"http://127.0.0.1:{port}"})})
    contract.check_letta_unreachable(LettaGateway(down))
