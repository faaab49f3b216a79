"""Helpers the blueprints share: the app's settings and gateways, the JSON body."""

from __future__ import annotations

from flask import current_app, request

from services.shared.settings import Settings
from services.web.errors import ApiError
from services.web.letta_gateway import LettaGateway
from services.web.livekit_gateway import LiveKitGateway


def settings() -> Settings:
    return current_app.extensions["lvs_settings"]


def livekit() -> LiveKitGateway:
    return current_app.extensions["livekit"]


def letta() -> LettaGateway:
    return current_app.extensions["letta"]


def json_body() -> object:
    """The request's JSON body; a missing or malformed body is a 400 on "body"."""
    if not request.get_data(cache=True):
        raise ApiError(400, "request body must be a JSON object", "body")
    try:
        body = request.get_json(force=True, silent=True)
    except RecursionError:  # nested deeper than the JSON parser goes (16 KiB of "[" is enough)
        body = None
    if body is None:
        raise ApiError(400, "request body is not valid JSON", "body")
    return body
