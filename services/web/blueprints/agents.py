"""GET/POST /api/agents: the Letta agents a user can talk to (their own; an admin's: all)."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from services.shared.ownership import may_use_agent
from services.web.auth import client_address, current_user, store
from services.web.blueprints.common import json_body, letta, settings
from services.web.errors import ApiError
from services.web.letta_gateway import LettaError
from services.web.metrics import UPSTREAM_ERRORS
from services.web.schemas import CreateAgent, parse_body

bp = Blueprint("agents", __name__, url_prefix="/api/agents")
log = logging.getLogger(__name__)
AGENT_WINDOW_S = 3600.0


def letta_unavailable(exc: LettaError) -> ApiError:
    UPSTREAM_ERRORS.labels("letta").inc()
    log.warning("letta call failed", extra={"reason": str(exc)})
    return ApiError(503, "Letta is not available", upstream="letta")


@bp.get("")
def list_agents() -> ResponseReturnValue:
    who = current_user()
    try:
        agents = letta().list_agents()
    except LettaError as exc:
        raise letta_unavailable(exc) from exc
    return jsonify({"agents": [a.to_json() for a in agents if may_use_agent(a.owner, who)]})


@bp.post("")
def create_agent() -> ResponseReturnValue:
    body = parse_body(CreateAgent, json_body())
    who = current_user()
    keys = [f"agents:addr:{client_address()}"] + ([f"agents:user:{who.name}"] if who.name else [])
    allowed, retry_after = store().hit(keys, settings().web.agents_per_hour, AGENT_WINDOW_S)
    if not allowed:
        raise ApiError(429, "too many new agents; try again later", retry_after=retry_after)
    try:
        agent = letta().create_agent(body.name, body.persona, body.human, owner=who.name or None)
    except LettaError as exc:
        raise letta_unavailable(exc) from exc
    log.info("agent created", extra={"letta_agent_id": agent.id, "user": who.name})
    return jsonify(agent.to_json()), 201
