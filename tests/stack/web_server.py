"""The web app with logins on, served in this process against the running stack's LiveKit and Letta.

The native stack's own web service runs on loopback with logins off (the developer loop); these tests
need WEB_AUTH=on with accounts of their own, so they serve a second copy of the same app, on a free port,
with its own store folder. Only the web process differs: LiveKit, Letta and the agent are the real ones.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from werkzeug.serving import make_server

from services.shared.settings import AuthMode, Settings, StackSettings
from services.web.app import create_app
from services.web.store import Store


@dataclass
class AuthServer:
    base_url: str
    settings: Settings
    store: Store


@contextmanager
def auth_web_server(stack: Settings) -> Iterator[AuthServer]:
    with tempfile.TemporaryDirectory(prefix="lvs-auth-web-") as folder:
        web = stack.web.model_copy(update={"auth": AuthMode.ON})
        settings = stack.model_copy(update={"web": web, "stack": StackSettings(dir=Path(folder))})
        store = Store.for_settings(settings)
        app = create_app(settings, configure_logs=False, store=store)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="auth-web", daemon=True)
        thread.start()
        try:
            yield AuthServer(f"http://127.0.0.1:{server.server_port}", settings, store)
        finally:
            server.shutdown()
            thread.join(timeout=10)
