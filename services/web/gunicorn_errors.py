"""JSON bodies for the errors gunicorn answers itself (414 URI too long, 431 headers too large, 400 …).

gunicorn writes those as HTML before the app sees the request; `install()` (from gunicorn_conf.py)
replaces its one writer, ``gunicorn.util.write_error``, so every answer of the web service is JSON.
"""

from __future__ import annotations

import json
from typing import Any

FIELDS = {414: "path", 431: "headers", 413: "body"}
MESSAGES = {414: "request line too long", 431: "request headers too large", 413: "request body too large"}


def error_response(status: int, reason: str) -> bytes:
    """A complete HTTP/1.1 response with a JSON body naming the part of the request at fault."""
    body: dict[str, object] = {"error": MESSAGES.get(status, reason.lower() or "bad request")}
    if status in FIELDS:
        body["field"] = FIELDS[status]
    payload = json.dumps(body).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\r\n"
    )
    return head.encode("latin-1") + payload


def install() -> None:
    from gunicorn import util

    def write_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
        # mesg holds the offending input (a header, the URI): it is logged by gunicorn, never echoed.
        util.write_nonblock(sock, error_response(int(status_int), str(reason)))

    util.write_error = write_error
