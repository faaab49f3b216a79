"""The API's OpenAPI 3.1 document: request schemas come from the same pydantic models the views use."""

from __future__ import annotations

from typing import Any

from services.web.schemas import CreateAgent, CreateSession, Login

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "field": {"type": "string"}},
}
_AGENT = {
    "type": "object",
    "required": ["id", "name", "persona"],
    "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "persona": {"type": "string"}},
}
_USER = {
    "type": "object",
    "properties": {"user": {"type": ["string", "null"]}, "admin": {"type": "boolean"}, "auth": {"type": "boolean"}},
}
_SESSION = {
    "type": "object",
    "required": ["url", "token", "room", "identity", "agent_id", "expires_at"],
    "properties": {
        "url": {"type": "string"},
        "token": {"type": "string"},
        "room": {"type": "string"},
        "identity": {"type": "string"},
        "agent_id": {"type": "string"},
        "expires_at": {"type": "string", "format": "date-time"},
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _err(description: str) -> dict[str, Any]:
    return _json({"$ref": "#/components/schemas/Error"}, description)


def _body(model: type) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
    }


def _literal(text: str) -> str:
    """A regex matching `text` literally (ECMA-262 and Python agree on these escapes)."""
    return "".join("\\" + c if c in r"\^$.|?*+()[]{}" else c for c in text)


def openapi_document(room_prefix: str = "lvs-") -> dict[str, Any]:
    """Every route of the service, with request and response schemas."""
    room_pattern = f"^{_literal(room_prefix)}[0-9a-f]{{16}}$"
    ok = {"type": "object", "properties": {"status": {"type": "string"}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Letta Voice Stack web API",
            "version": "1.0.0",
            "description": "With logins on (WEB_AUTH), every route but /healthz, /readyz and /api/login answers "
            "401 without the session cookie of POST /api/login; a Host not allowed answers 421.",
        },
        "paths": {
            "/healthz": {"get": {"operationId": "healthz", "responses": {"200": _json(ok, "alive")}}},
            "/readyz": {
                "get": {
                    "operationId": "readyz",
                    "responses": {"200": _json(ok, "ready"), "503": _json(ok, "livekit or letta down")},
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "responses": {"200": {"description": "Prometheus text", "content": {"text/plain": {}}}},
                }
            },
            "/api/config": {
                "get": {
                    "operationId": "getConfig",
                    "responses": {"200": _json({"type": "object"}, "non-secret page configuration")},
                }
            },
            "/api/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "responses": {"200": _json({"type": "object"}, "this document")},
                }
            },
            "/api/login": {
                "post": {
                    "operationId": "login",
                    "requestBody": _body(Login),
                    "responses": {
                        "200": _json(_USER, "logged in: a session cookie is set"),
                        "400": _err("invalid input"),
                        "404": _err("logins are off"),
                        "401": _err("wrong name or password"),
                        "403": _err("cross-origin write"),
                        "413": _err("body too large"),
                        "415": _err("not JSON"),
                        "429": _err("too many failed logins"),
                    },
                }
            },
            "/api/logout": {
                "post": {"operationId": "logout", "responses": {"200": _json({"type": "object"}, "logged out")}}
            },
            "/api/status": {
                "get": {
                    "operationId": "stackStatus",
                    "description": "Admins only: services, live sessions, turn latency per stage, recovery actions"
                    " of the last hour, the model (the /status page shows it).",
                    "responses": {
                        "200": _json({"type": "object"}, "the stack's status"),
                        "401": _err("not logged in"),
                        "403": _err("not an admin"),
                    },
                }
            },
            "/api/me": {
                "get": {
                    "operationId": "me",
                    "responses": {"200": _json(_USER, "the logged-in user"), "401": _err("not logged in")},
                }
            },
            "/api/agents": {
                "get": {
                    "operationId": "listAgents",
                    "responses": {
                        "200": _json(
                            {"type": "object", "properties": {"agents": {"type": "array", "items": _AGENT}}},
                            "Letta agents",
                        ),
                        "503": _err("Letta unavailable"),
                    },
                },
                "post": {
                    "operationId": "createAgent",
                    "requestBody": _body(CreateAgent),
                    "responses": {
                        "201": _json(_AGENT, "created"),
                        "400": _err("invalid input"),
                        "403": _err("cross-origin write"),
                        "413": _err("body too large"),
                        "415": _err("not JSON"),
                        "429": _err("rate limited (per user and per address)"),
                        "503": _err("Letta unavailable"),
                    },
                },
            },
            "/api/sessions": {
                "post": {
                    "operationId": "createSession",
                    "requestBody": _body(CreateSession),
                    "responses": {
                        "201": _json(_SESSION, "room created, agent dispatched, token minted"),
                        "400": _err("invalid input"),
                        "403": _err("cross-origin write"),
                        "404": _err("unknown agent"),
                        "409": _err("the agent has a live session (body.room names it when it is yours)"),
                        "413": _err("body too large"),
                        "415": _err("not JSON"),
                        "429": _err("rate limited"),
                        "503": _err("LiveKit or Letta unavailable"),
                    },
                }
            },
            "/api/sessions/{room}": {
                "delete": {
                    "operationId": "endSession",
                    "parameters": [
                        {
                            "name": "room",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": room_pattern},
                        }
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {"room": {"type": "string"}, "deleted": {"type": "boolean"}},
                            },
                            "room deleted",
                        ),
                        "400": _err("not a session room name"),
                        "403": _err("cross-origin write"),
                        "404": _err("no such session"),
                        "503": _err("LiveKit unavailable"),
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Error": _ERROR,
                "CreateAgent": CreateAgent.model_json_schema(),
                "CreateSession": CreateSession.model_json_schema(),
                "Login": Login.model_json_schema(),
            }
        },
    }
