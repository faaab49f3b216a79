"""A scripted OpenAI-compatible chat server: the test double of a paid LLM vendor, at its HTTP boundary.

Only tests use it (never `make up`). It answers from the conversation Letta sends it: when an earlier message
said "the secret word is X", every reply says X; otherwise it acknowledges. So a correct answer after a
restart proves Letta kept the conversation and fed it back, which the small offline model cannot show.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "scripted-llm"
SECRET = re.compile(r"secret word is (\w+)", re.IGNORECASE)


def reply_for(messages: list[dict[str, Any]]) -> str:
    """The scripted answer for a conversation."""
    words = []
    for message in messages:
        content = message.get("content")
        text = content if isinstance(content, str) else json.dumps(content)
        words += SECRET.findall(text)
    return f"The secret word is {words[-1]}." if words else "Noted."


def completion(text: str) -> dict[str, Any]:
    """A non-streaming chat completion answering `text`."""
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def completion_chunks(text: str) -> list[dict[str, Any]]:
    """The streamed chunks of a chat completion answering `text`: the role, then one word per chunk."""
    created = int(time.time())
    pieces = [{"role": "assistant", "content": ""}] + [{"content": w + " "} for w in text.split()]
    return [
        {
            "id": "chatcmpl-scripted",
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": "stop" if i == len(pieces) - 1 else None}],
        }
        for i, delta in enumerate(pieces)
    ]


class _Handler(BaseHTTPRequestHandler):
    server_version = "scripted-llm/1"
    requests_seen: list[dict[str, Any]]

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "test"}]})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": "not found"})
            return
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        type(self).requests_seen.append(request)
        text = reply_for(request.get("messages", []))
        if not request.get("stream"):
            self._json(200, completion(text))
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for chunk in completion_chunks(text):
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")


@contextmanager
def scripted_llm() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Serve on a free loopback port; yields (base URL ending in /v1, the requests it received)."""
    handler = type("Handler", (_Handler,), {"requests_seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", handler.requests_seen
    finally:
        server.shutdown()
        server.server_close()
