"""GET/POST /api/agents: the Letta agents a user can talk to."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from services.web.blueprints.common import json_body, letta
from services.web.errors import ApiError
from services.web.letta_gateway import LettaError
from services.web.metrics import UPSTREAM_ERRORS
from services.web.schemas import CreateAgent, parse_body

bp = Blueprint("agents", __name__, url_prefix="/api/agents")
log = logging.getLogger(__name__)


def letta_unavailable(exc: LettaError) -> ApiError:
    UPSTREAM_ERRORS.labels("letta").inc()
    log.warning("letta call failed", extra={"reason": str(exc)})
    return ApiError(503, "Letta is not available", upstream="letta")


@bp.get("")
def list_agents() -> ResponseReturnValue:
    try:
        agents = letta().list_agents()
    except LettaError as exc:
        raise letta_unavailable(exc) from exc
    return jsonify({"agents": [a.to_json() for a in agents]})


@bp.post("")
def create_agent() -> ResponseReturnValue:
    body = parse_body(CreateAgent, json_body())
    try:
        agent = letta().create_agent(body.name, body.persona, body.human)
    except LettaError as exc:
        raise letta_unavailable(exc) from exc
    log.info("agent created", extra={"letta_agent_id": agent.id})
    return jsonify(agent.to_json()), 201
