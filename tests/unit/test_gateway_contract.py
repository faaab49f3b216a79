"""The unit tests' fakes against the gateway contract; tests/stack/test_gateway_contract.py runs it for real."""

from __future__ import annotations

import pytest

from services.web.letta_gateway import LettaGateway
from services.web.livekit_gateway import LiveKitGateway
from tests import gateway_contract as contract
from tests.unit.test_web_fakes import AGENT_ID, OTHER_AGENT_ID, FakeLetta, FakeLiveKit, make_settings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("fake", "real"), [(FakeLiveKit, LiveKitGateway), (FakeLetta, LettaGateway)])
def test_fake_has_the_real_gateways_methods_and_signatures(fake: type, real: type) -> None:
    contract.check_signatures(fake, real)


def test_signature_check_catches_a_drifted_fake() -> None:
    class Drifted(FakeLetta):
        def get_agent(self, agent_id: str, include_persona: bool = False) -> None:  # type: ignore[override]
            return None

    with pytest.raises(AssertionError, match="get_agent"):
        contract.check_signatures(Drifted, LettaGateway)


def test_fake_livekit_follows_the_contract() -> None:
    settings = make_settings()
    contract.check_livekit_session(FakeLiveKit(settings), settings.recovery.room_prefix, AGENT_ID, OTHER_AGENT_ID)


def test_fake_livekit_down_follows_the_contract() -> None:
    settings = make_settings()
    contract.check_livekit_unreachable(FakeLiveKit(settings, down=True), settings.recovery.room_prefix)


def test_fake_letta_follows_the_contract() -> None:
    fake = FakeLetta()
    contract.check_letta_agents(fake, "contract-agent", lambda agent_id: fake.agents.pop(agent_id))


def test_fake_letta_down_follows_the_contract() -> None:
    contract.check_letta_unreachable(FakeLetta(down=True))
