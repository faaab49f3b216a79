"""The page itself, its non-secret configuration, and the OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from services.web.blueprints.common import settings
from services.web.openapi import openapi_document

bp = Blueprint("meta", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    return current_app.send_static_file("index.html")


@bp.get("/api/config")
def config() -> ResponseReturnValue:
    """Only what the page needs and may see: no keys, no passwords, no internal URLs."""
    cfg = settings()
    llm = cfg.llm
    return jsonify(
        {
            "livekit_url": cfg.livekit.browser_url,
            "llm": {
                "provider": llm.resolved_provider.value,
                "model": llm.model_name,
                "is_local": llm.is_local,
            },
            "offline_model": llm.is_local and llm.gguf_path is None,
            "token_ttl": cfg.web.token_ttl,
        }
    )


@bp.get("/api/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(openapi_document(settings().recovery.room_prefix))
