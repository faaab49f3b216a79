"""Short-lived LiveKit access tokens for one browser participant in one room."""

from __future__ import annotations

import datetime as dt

import jwt
from livekit import api

from services.shared.settings import Settings


def mint_token(settings: Settings, room: str, identity: str) -> tuple[str, dt.datetime]:
    """A JWT that lets `identity` join `room` only: publish its microphone and data, subscribe.

    Returns the token and the moment it expires (UTC).
    """
    grants = api.VideoGrants(
        room_join=True,
        room=room,
        can_publish=True,
        can_publish_sources=["microphone"],
        can_publish_data=True,
        can_subscribe=True,
    )
    token = (
        api.AccessToken(settings.livekit.api_key, settings.livekit.api_secret.get_secret_value())
        .with_identity(identity)
        .with_ttl(dt.timedelta(seconds=settings.web.token_ttl))
        .with_grants(grants)
        .to_jwt()
    )
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    return token, dt.datetime.fromtimestamp(exp, tz=dt.UTC)
