"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from flask.typing import ResponseReturnValue

from services.web import metrics
from services.web.blueprints.common import letta, livekit

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The process answers."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Ready when livekit-server and Letta both answer; 503 names what is down."""
    checks = {"livekit": livekit().ping(), "letta": letta().ping()}
    down = sorted(name for name, ok in checks.items() if not ok)
    if down:
        return jsonify({"status": "unavailable", "down": down, "checks": checks}), 503
    return jsonify({"status": "ok", "checks": checks})


@bp.get("/metrics")
def prometheus() -> ResponseReturnValue:
    body, content_type = metrics.render()
    return Response(body, content_type=content_type)
