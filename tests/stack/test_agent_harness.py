"""Harness for the agent stack tests (no tests here): the synthetic caller lives in services.agent.probe."""

from services.agent.probe import (
    Human,
    create_room,
    default_agent_id,
    delete_room,
    dispatch,
    espeak_wav,
    new_room_name,
    our_agents,
    poll,
    until,
)

__all__ = [
    "Human",
    "create_room",
    "default_agent_id",
    "delete_room",
    "dispatch",
    "espeak_wav",
    "new_room_name",
    "our_agents",
    "poll",
    "until",
]
