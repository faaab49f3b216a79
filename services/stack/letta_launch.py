"""Start the Letta 0.16.8 server for the native stack, with its secrets kept out of the log.

Run with the Letta venv's Python (standard library only until Letta is imported):
``letta-venv/bin/python services/stack/letta_launch.py --host 127.0.0.1 --port 8283``.

- Secure mode (``LETTA_SERVER_SECURE=true`` + ``LETTA_SERVER_PASSWORD``): every route except health and
  readiness needs ``Authorization: Bearer <password>`` (or ``X-BARE-PASSWORD: password <password>``).
  Letta prints that password at start, logs whole LLM request bodies when a call fails and prints every
  streamed reply chunk: stdout and stderr go through a filter that masks the secrets and drops the
  bodies and chunks.
- No CORS origins: Letta allows its own list of localhost origins and https://app.letta.com with
  credentials; browsers never talk to Letta here (the web service does), so none is allowed.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
from collections.abc import Iterable
from typing import TextIO
from urllib.parse import urlparse

REDACTED = "[redacted]"
# Letta's log lines that carry a whole LLM request (prompt, memory, messages) after these words.
BODY = re.compile(r"(with request data:|summarization payload:)[^\n]*")
SECRET_ENV = ("LETTA_SERVER_PASSWORD", "OPENAI_API_KEY")
# Letta prints every streamed reply chunk (the conversation itself) as "CHUNK: data: {...}": left out.
DROPPED_PREFIX = "CHUNK: "


def secrets_from_env(env: dict[str, str]) -> list[str]:
    """The values to mask: the server password, the LLM key, and the database password in LETTA_PG_URI."""
    values = [env.get(name, "") for name in SECRET_ENV]
    uri = env.get("LETTA_PG_URI", "")
    if uri:
        values.append(urlparse(uri).password or "")
    return sorted({v for v in values if len(v) >= 6}, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret masked and LLM request bodies left out."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return BODY.sub(lambda m: f"{m.group(1)} [omitted]", text)


class RedactingStream(io.TextIOBase):
    """A text stream that writes through ``redact`` to another stream."""

    def __init__(self, inner: TextIO, secrets: list[str]) -> None:
        self.inner = inner
        self.secrets = secrets
        self._dropped_line = False  # print() writes the text and its newline separately

    def write(self, text: str) -> int:
        if text.startswith(DROPPED_PREFIX):
            self._dropped_line = not text.endswith("\n")
            return len(text)
        if self._dropped_line and text == "\n":
            self._dropped_line = False
            return len(text)
        self._dropped_line = False
        self.inner.write(redact(text, self.secrets))
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def fileno(self) -> int:
        return self.inner.fileno()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.inner, "encoding", "utf-8")


class NoOrigins(list):  # type: ignore[type-arg]
    """An origin list that stays empty (Letta appends https://app.letta.com to whatever it is given)."""

    def append(self, _: object) -> None:
        return None

    def extend(self, _: object) -> None:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8283)
    args = parser.parse_args(argv)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]  # our modules must not shadow Letta's
    masked = secrets_from_env(dict(os.environ))
    sys.stdout = RedactingStream(sys.stdout, masked)
    sys.stderr = RedactingStream(sys.stderr, masked)
    sys.argv = [sys.argv[0], "--no-generation"]  # Letta: do not write openapi_letta.json into its folder
    from letta.settings import settings  # the first Letta import: after the streams are wrapped

    settings.cors_origins = NoOrigins()
    from letta.server.rest_api.app import start_server

    start_server(port=args.port, host=args.host)
    return 0


if __name__ == "__main__":
    sys.exit(main())
