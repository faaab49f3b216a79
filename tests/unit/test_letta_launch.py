"""The Letta launcher: its password and LLM request bodies never reach letta.log; no CORS origins."""

from __future__ import annotations

import io

import pytest

from services.stack import letta_launch

pytestmark = pytest.mark.unit
ENV = {
    "LETTA_SERVER_PASSWORD": "letta-pw-0123456789",
    "LETTA_PG_URI": "postgresql://letta:db-pw-abcdef0123@127.0.0.1:5433/letta",
    "OPENAI_API_KEY": "sk-local-no-key",
}


def test_secrets_come_from_the_environment() -> None:
    assert set(letta_launch.secrets_from_env(ENV)) == {"letta-pw-0123456789", "db-pw-abcdef0123", "sk-local-no-key"}
    assert letta_launch.secrets_from_env({}) == []


def test_the_stream_masks_secrets_and_drops_request_bodies() -> None:
    out = io.StringIO()
    stream = letta_launch.RedactingStream(out, letta_launch.secrets_from_env(ENV))
    stream.write("▶ Using secure mode with password: letta-pw-0123456789\n")  # what Letta 0.16.8 prints
    stream.write('Error streaming OpenAI Chat Completions request: boom with request data: {"messages": ["hi"]}\n')
    stream.write("Full summarization payload: {'messages': 'memory'}\nnext line db-pw-abcdef0123\n")
    text = out.getvalue()
    assert "letta-pw-0123456789" not in text and "db-pw-abcdef0123" not in text
    assert "messages" not in text and "memory" not in text
    assert "with request data: [omitted]" in text and text.count("\n") == 4
    assert "password: [redacted]" in text


def test_streamed_reply_chunks_are_left_out() -> None:
    out = io.StringIO()
    stream = letta_launch.RedactingStream(out, [])
    print('CHUNK: data: {"delta": {"content": "my secret diary"}}', file=stream)  # Letta's streaming_service
    print("INFO: request done", file=stream)
    assert out.getvalue() == "INFO: request done\n"


def test_no_origins_stays_empty() -> None:
    origins = letta_launch.NoOrigins()
    origins.append("https://app.letta.com")  # what Letta's create_application() does
    origins.extend(["http://localhost:3000"])
    assert origins == []
