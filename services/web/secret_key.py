"""The key that signs login cookies: WEB_SECRET_KEY, or one generated once into the web data folder.

`make up` writes WEB_SECRET_KEY into .stack/secrets.env (services/stack/dev_secrets.py) and a VM's
`.env` gets one from services/deploy/secrets.py; the file here is the fallback when neither ran.
"""

from __future__ import annotations

import os
import secrets

from services.shared.settings import MIN_SECRET_BYTES, Settings
from services.web.store import private_dir, store_dir


def secret_key(settings: Settings) -> str:
    configured = settings.web.secret_key
    if configured is not None:
        value = configured.get_secret_value()
        if len(value.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"WEB_SECRET_KEY must be at least {MIN_SECRET_BYTES} bytes")
        return value
    path = private_dir(store_dir(settings)) / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        value = secrets.token_urlsafe(48)
        out.write(value)
    return value
