"""The probe caller keeps one transcript per segment: livekit sends a user's segment again once it is final."""

from __future__ import annotations

import asyncio

import pytest

from services.agent.probe import Human
from services.shared.settings import Settings

pytestmark = pytest.mark.unit


def human() -> Human:
    async def build() -> Human:
        return Human(settings=Settings(), room_name="room-1", identity="human-1")

    return asyncio.run(build())


def test_a_final_segment_replaces_its_interim_text() -> None:
    h = human()
    h._keep_transcript("human-1", "SG_1", "my name is")
    h._keep_transcript("agent-1", "SG_2", "Hello.")
    h._keep_transcript("human-1", "SG_1", "my name is nader.")
    assert h.transcripts == [
        ("human-1", "my name is nader."),
        ("agent-1", "Hello."),
    ]
    assert h.user_text() == "my name is nader."


def test_new_segments_add_entries_in_order() -> None:
    h = human()
    h._keep_transcript("human-1", "SG_1", "what is the capital of france?")
    h._keep_transcript("human-1", "SG_3", "and of spain?")
    h._keep_transcript("agent-1", "SG_1", "Paris.")
    assert h.user_text() == "what is the capital of france? and of spain?"
    assert h.agent_text() == "paris."
    assert len(h.transcripts) == 3
