"""The settings model's helpers that its validators and `make config` rely on (found unpinned by make mutation)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.shared.settings import (
    AgentSettings,
    LettaSettings,
    LiveKitSettings,
    describe_error,
    env_name,
    is_loopback,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost", True), ("127.0.0.1", True), ("::1", True), ("10.0.0.1", False), ("example.com", False)],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_bad_url_names_the_variable_and_the_schemes() -> None:
    with pytest.raises(ValidationError) as raised:
        LiveKitSettings(url="ftp://example.com", _env_file=None)
    assert describe_error(raised.value) == (
        "LIVEKIT_URL: must be a URL starting with ws:// or wss:// or http:// or https://"
    )


def test_two_problems_are_one_line_each_joined() -> None:
    with pytest.raises(ValidationError) as raised:
        LiveKitSettings(url="ftp://x", public_url="gopher://y", _env_file=None)
    assert describe_error(raised.value).split("; ") == [
        "LIVEKIT_URL: must be a URL starting with ws:// or wss:// or http:// or https://",
        "LIVEKIT_PUBLIC_URL: must be a URL starting with ws:// or wss:// or http:// or https://",
    ]


def test_other_errors_are_described_by_their_text() -> None:
    assert describe_error(RuntimeError("no .env")) == "no .env"


def test_urls_lose_their_trailing_slash() -> None:
    assert LettaSettings(base_url="http://127.0.0.1:8283/", _env_file=None).base_url == "http://127.0.0.1:8283"


def test_env_name_of_a_field() -> None:
    assert env_name(LiveKitSettings, "api_key") == "LIVEKIT_API_KEY"


def test_worker_instances_get_ports_a_hundred_apart() -> None:
    agent = AgentSettings(port=8081, _env_file=None)
    assert [agent.instance_port(i) for i in range(3)] == [8081, 8181, 8281]
