"""Request bodies of the JSON API. Strict: unknown fields, wrong types and oversize values are 400s."""

from __future__ import annotations

from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.shared.settings import USER_NAME_PATTERN
from services.web.errors import ApiError

# Letta ids look like "agent-<uuid>"; allow any short id of safe characters.
AGENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$"
IDENTITY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# Letta 0.16.8 answers 500 for a name with other characters (a dot, say): refuse them here with a 400.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _-]{0,63}$"
MAX_BLOCK_CHARS = 2000
# Free text: any character but control characters (tab and newlines allowed), and not blank.
_TEXT_CHAR = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
_VISIBLE_CHAR = r"[^\s\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
BLOCK_PATTERN = rf"^{_TEXT_CHAR}*{_VISIBLE_CHAR}{_TEXT_CHAR}*$"


AgentId = Annotated[str, StringConstraints(pattern=AGENT_ID_PATTERN)]
Identity = Annotated[str, StringConstraints(pattern=IDENTITY_PATTERN)]
AgentName = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
BlockText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_BLOCK_CHARS, pattern=BLOCK_PATTERN)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CreateAgent(_Strict):
    """POST /api/agents"""

    name: AgentName = Field(description="Agent name: letters, digits, space, _ - (max 64).")
    persona: BlockText = Field(description="Persona memory block: who the assistant is.")
    human: BlockText = Field(description="Human memory block: what it knows about the user.")


class CreateSession(_Strict):
    """POST /api/sessions"""

    agent_id: AgentId = Field(description="Letta agent id.")
    identity: Identity | None = Field(default=None, description="Participant identity (default: random).")
    takeover: bool = Field(default=False, description="Close this agent's live session first instead of 409.")


UserName = Annotated[str, StringConstraints(pattern=USER_NAME_PATTERN)]
MAX_PASSWORD_CHARS = 1024


class Login(_Strict):
    """POST /api/login"""

    name: UserName = Field(description="Account name: lower-case letters, digits, _ . - (max 32).")
    password: Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD_CHARS)] = Field(
        description="Password."
    )


M = TypeVar("M", bound=_Strict)


def parse_body(model: type[M], body: object) -> M:
    """Validate a decoded JSON body; a non-object body is a 400 on "body"."""
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object", "body")
    return model.model_validate(body)
