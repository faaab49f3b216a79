"""Who owns a Letta agent and a session room: the rule the web service and the agent worker share.

A Letta agent belongs to the user named by its ``lvs-owner:<name>`` tag; an agent without one (the
default agent, agents made before logins existed) belongs to the admins. A session room names its user
in its metadata. With logins off every request acts as an admin, as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

OWNER_TAG_PREFIX = "lvs-owner:"


@dataclass(frozen=True)
class Principal:
    """The user a request or a session acts for ('' when logins are off)."""

    name: str
    admin: bool


ANONYMOUS_ADMIN = Principal("", admin=True)


def owner_tag(name: str) -> str:
    return f"{OWNER_TAG_PREFIX}{name}"


def owner_from_tags(tags: Iterable[str] | None) -> str | None:
    """The owner named by an agent's tags, or None (the admins')."""
    for tag in tags or ():
        if isinstance(tag, str) and tag.startswith(OWNER_TAG_PREFIX):
            return tag[len(OWNER_TAG_PREFIX) :] or None
    return None


def may_use_agent(agent_owner: str | None, who: Principal) -> bool:
    """A user lists, uses, switches to an agent of their own; an admin any agent."""
    return who.admin or (agent_owner is not None and agent_owner == who.name)


def may_control_session(room_user: str, who: Principal) -> bool:
    """Only the session's user (or an admin) may end it or take it over."""
    return who.admin or (room_user != "" and room_user == who.name)


def principal_from_metadata(meta: dict[str, object]) -> Principal:
    """The user a room was opened for; a room without one (logins off) acts as an admin."""
    user = meta.get("user")
    if not isinstance(user, str) or not user:
        return ANONYMOUS_ADMIN
    return Principal(user, admin=meta.get("admin") is True)
