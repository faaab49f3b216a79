"""POST /api/sessions (room + dispatch + token) and DELETE /api/sessions/<room>."""

from __future__ import annotations

import logging
import time

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from services.shared.logging import log_context
from services.web.blueprints.agents import letta_unavailable
from services.web.blueprints.common import json_body, letta, limiter, livekit, settings
from services.web.errors import ApiError
from services.web.letta_gateway import LettaError
from services.web.livekit_gateway import LiveKitError
from services.web.metrics import SESSIONS, UPSTREAM_ERRORS
from services.web.policy import is_session_room_name, live_rooms, new_identity, new_room_name, race_winner
from services.web.schemas import CreateSession, parse_body
from services.web.tokens import mint_token

bp = Blueprint("sessions", __name__, url_prefix="/api/sessions")
log = logging.getLogger(__name__)


def livekit_unavailable(exc: LiveKitError) -> ApiError:
    UPSTREAM_ERRORS.labels("livekit").inc()
    log.warning("livekit call failed", extra={"reason": str(exc)})
    return ApiError(503, "LiveKit is not available", upstream="livekit")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _conflict(room: str) -> ApiError:
    SESSIONS.labels("conflict").inc()
    return ApiError(409, "this agent already has a live session; send takeover=true to close it", "agent_id", room=room)


@bp.post("")
def create_session() -> ResponseReturnValue:
    cfg = settings()
    allowed, retry_after = limiter().allow(request.remote_addr or "unknown")
    if not allowed:
        SESSIONS.labels("rate_limited").inc()
        raise ApiError(429, "too many session requests; try again shortly", retry_after=retry_after)
    body = parse_body(CreateSession, json_body())
    identity = body.identity or new_identity()
    if identity.startswith(cfg.agent.identity_prefix):
        raise ApiError(400, f"invalid 'identity': must not start with '{cfg.agent.identity_prefix}'", "identity")
    try:
        agent = letta().get_agent(body.agent_id)
    except LettaError as exc:
        raise letta_unavailable(exc) from exc
    if agent is None:
        raise ApiError(404, "unknown agent", "agent_id")

    prefix, grace = cfg.recovery.room_prefix, cfg.web.session_grace
    agent_prefix = cfg.agent.identity_prefix
    room = new_room_name(prefix)
    with log_context(room=room, letta_agent_id=agent.id):
        try:
            live = live_rooms(livekit().rooms_for(agent.id), agent.id, _now_ms(), grace, agent_prefix)
            if live and not body.takeover:
                raise _conflict(live[0].name)
            for old in live:
                log.info("taking over session", extra={"old_room": old.name})
                livekit().delete_room(old.name)
            livekit().open_session(room, agent.id)
            # Two workers may have raced for the same agent: the oldest room stays, the others go.
            live = live_rooms(livekit().rooms_for(agent.id), agent.id, _now_ms(), grace, agent_prefix)
            winner = race_winner(live)
            if winner is not None and winner.name != room:
                livekit().delete_room(room)
                raise _conflict(winner.name)
        except LiveKitError as exc:
            raise livekit_unavailable(exc) from exc
        token, expires_at = mint_token(cfg, room, identity)
        SESSIONS.labels("created").inc()
        log.info("session created", extra={"identity": identity, "takeover": body.takeover})
    return jsonify(
        {
            "url": cfg.livekit.browser_url,
            "token": token,
            "room": room,
            "identity": identity,
            "agent_id": agent.id,
            "expires_at": expires_at.isoformat().replace("+00:00", "Z"),
        }
    ), 201


@bp.delete("/<room>")
def end_session(room: str) -> ResponseReturnValue:
    cfg = settings()
    if not is_session_room_name(room, cfg.recovery.room_prefix):
        raise ApiError(400, "invalid 'room': not a session room name", "room")
    with log_context(room=room):
        try:
            found = livekit().room(room)
            if found is None or not found.ours:
                raise ApiError(404, "no such session", "room")
            livekit().delete_room(room)
        except LiveKitError as exc:
            raise livekit_unavailable(exc) from exc
        SESSIONS.labels("ended").inc()
        log.info("session ended")
    return jsonify({"room": room, "deleted": True})
