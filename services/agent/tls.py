"""TLS client contexts built once per worker (in its forkserver), never on a session's event loop.

Building a verifying context parses the whole CA bundle: ~50 ms of CPU, and 0.2-0.7 s of a blocked event loop
on a busy 2-core machine. livekit-agents' loop monitor reported it several times at every job start: the OpenAI
SDK clients of the Letta brain, the STT and the TTS (each builds its own HTTP client), and livekit-agents' own
HTTP session. They all take contexts built once in the worker's forkserver now (see the end of this module).
"""

from __future__ import annotations

import functools
import ssl

import httpx2
import openai


@functools.cache
def client_tls_context() -> ssl.SSLContext:
    """The process's verifying TLS client context (system trust store, or SSL_CERT_FILE / SSL_CERT_DIR)."""
    return ssl.create_default_context()


def warm_tls_contexts() -> None:
    """Build the contexts a job uses: ours, and livekit-agents' shared HTTP session's (cached per process)."""
    client_tls_context()
    from livekit.agents.utils import http_context

    build = getattr(http_context, "_create_ssl_context", None)  # private: when it goes, only the warm-up does
    if build is not None:
        build()


def openai_client(api_key: str, base_url: str | None, timeout: httpx2.Timeout | None = None) -> openai.AsyncClient:
    """An OpenAI SDK client (Letta's chat completions, the speech service, a cloud vendor) on the prewarmed
    context, with livekit's plugin defaults otherwise: no retries, the connection kept open between turns.

    It lives as long as the job process: livekit-agents runs one job per process, then the process exits.
    """
    return openai.AsyncClient(
        api_key=api_key,
        base_url=base_url,
        max_retries=0,
        http_client=httpx2.AsyncClient(
            verify=client_tls_context(),
            timeout=timeout or httpx2.Timeout(connect=15.0, read=5.0, write=5.0, pool=5.0),
            follow_redirects=True,
            limits=httpx2.Limits(max_connections=50, max_keepalive_connections=50, keepalive_expiry=120),
        ),
    )


# At import: the forkserver imports this module (server.PRELOAD_MODULES), so the contexts are built once per
# worker there and every job process starts with them.
warm_tls_contexts()
