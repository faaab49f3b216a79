"""POST /api/sessions (room + dispatch + token) and DELETE /api/sessions/<room>."""

from __future__ import annotations

import logging
import time

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from services.shared.logging import log_context
from services.shared.ownership import Principal, may_control_session, may_use_agent
from services.web.auth import client_address, current_user, store
from services.web.blueprints.agents import letta_unavailable
from services.web.blueprints.common import json_body, letta, livekit, settings
from services.web.errors import ApiError
from services.web.letta_gateway import LettaError
from services.web.livekit_gateway import LiveKitError
from services.web.metrics import SESSIONS, UPSTREAM_ERRORS
from services.web.nodes import browser_url_for
from services.web.policy import (
    RoomSnapshot,
    is_session_room_name,
    live_rooms,
    new_identity,
    new_room_name,
    race_winner,
    unused_rooms,
)
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


def _conflict(live: list[RoomSnapshot], who: Principal) -> ApiError:
    """409; the room is named only when it is the caller's own (or the caller is an admin)."""
    SESSIONS.labels("conflict").inc()
    mine = all(may_control_session(r.user, who) for r in live)
    if not mine:
        return ApiError(409, "this agent is in a session of another user", "agent_id", yours=False)
    return ApiError(
        409,
        "this agent already has a live session; send takeover=true to close it",
        "agent_id",
        room=live[0].name,
        yours=bool(who.name) and all(r.user == who.name for r in live),
    )


def _rival_that_took_over(room: str, agent_id: str, grace: float, agent_prefix: str) -> RoomSnapshot | None:
    """The live session that replaced our just-created ``room`` (gone again), if that is what happened."""
    if livekit().room(room) is not None:
        return None
    live = live_rooms(livekit().rooms_for(agent_id), agent_id, _now_ms(), grace, agent_prefix)
    return race_winner([r for r in live if r.name != room])


def _rate_limit(who: Principal) -> None:
    keys = [f"sessions:addr:{client_address()}"] + ([f"sessions:user:{who.name}"] if who.name else [])
    allowed, retry_after = store().hit(keys, settings().web.sessions_per_minute, 60.0)
    if not allowed:
        SESSIONS.labels("rate_limited").inc()
        raise ApiError(429, "too many session requests; try again shortly", retry_after=retry_after)


@bp.post("")
def create_session() -> ResponseReturnValue:
    cfg = settings()
    who = current_user()
    _rate_limit(who)
    body = parse_body(CreateSession, json_body())
    identity = body.identity or new_identity()
    if identity.startswith(cfg.agent.identity_prefix):
        raise ApiError(400, f"invalid 'identity': must not start with '{cfg.agent.identity_prefix}'", "identity")
    try:
        agent = letta().get_agent(body.agent_id)
    except LettaError as exc:
        raise letta_unavailable(exc) from exc
    if agent is None or not may_use_agent(agent.owner, who):
        raise ApiError(404, "unknown agent", "agent_id")

    prefix, grace = cfg.recovery.room_prefix, cfg.web.session_grace
    agent_prefix = cfg.agent.identity_prefix
    room = new_room_name(prefix)
    with log_context(room=room, letta_agent_id=agent.id):
        try:
            rooms = livekit().rooms_for(agent.id)
            live = live_rooms(rooms, agent.id, _now_ms(), grace, agent_prefix)
            if live and not (body.takeover and all(may_control_session(r.user, who) for r in live)):
                raise _conflict(live, who)
            for old in live:
                log.info("taking over session", extra={"old_room": old.name})
                livekit().delete_room(old.name)
            # Minted earlier and never joined (past the grace): its token must not open a second session.
            for unused in unused_rooms(rooms, live):
                livekit().delete_room(unused.name)
            try:
                livekit().open_session(room, agent.id, who.name, who.admin)
            except LiveKitError:
                # A racing request's takeover may delete our new room before its dispatch (LiveKit then
                # refuses the dispatch): that request won the race, so this one is a conflict, not a 503.
                if livekit().room(room) is not None:
                    raise
                rival = _rival_that_took_over(room, agent.id, grace, agent_prefix)
                if rival is None:  # a chain of takeovers: the rival's room is gone again too
                    SESSIONS.labels("conflict").inc()
                    raise ApiError(
                        409, "another request took over this agent's session at once; try again", "agent_id"
                    ) from None
                raise _conflict([rival], who) from None
            # Two workers may have raced for the same agent: the oldest room stays, the others go.
            live = live_rooms(livekit().rooms_for(agent.id), agent.id, _now_ms(), grace, agent_prefix)
            winner = race_winner(live)
            if winner is not None and winner.name != room:
                livekit().delete_room(room)
                raise _conflict([winner], who)
        except LiveKitError as exc:
            raise livekit_unavailable(exc) from exc
        token, expires_at = mint_token(cfg, room, identity)
        SESSIONS.labels("created").inc()
        log.info("session created", extra={"identity": identity, "takeover": body.takeover, "user": who.name})
    return jsonify(
        {
            "url": browser_url_for(cfg, room),
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
            if found is None or not found.ours or not may_control_session(found.user, current_user()):
                raise ApiError(404, "no such session", "room")
            livekit().delete_room(room)
        except LiveKitError as exc:
            raise livekit_unavailable(exc) from exc
        SESSIONS.labels("ended").inc()
        log.info("session ended")
    return jsonify({"room": room, "deleted": True})
