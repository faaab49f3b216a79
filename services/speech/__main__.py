"""`python -m services.speech`: load the models once and serve until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from aiohttp import web

from services.shared.logging import configure_logging
from services.shared.settings import MIN_SECRET_BYTES, Settings, is_loopback, load_settings_or_exit

log = logging.getLogger("lvs.speech")


def startup_problem(settings: Settings) -> str | None:
    """Why the service cannot start with these settings (the message names the setting), or None."""
    sp = settings.speech
    key = sp.api_key.get_secret_value() if sp.api_key else ""
    if not key:
        return "SPEECH_API_KEY is empty: `make up` generates one in .stack/secrets.env (or set it in .env)"
    if not is_loopback(sp.bind) and len(key.encode()) < MIN_SECRET_BYTES:
        return f"SPEECH_API_KEY must be at least {MIN_SECRET_BYTES} bytes when SPEECH_BIND={sp.bind}"
    from services.speech.engine import missing_models

    problems = missing_models(sp, settings.stack.cache)
    return "; ".join(problems) if problems else None


async def serve(settings: Settings) -> None:
    from services.speech.engine import load_engine
    from services.speech.server import create_app

    sp = settings.speech
    engine = await asyncio.to_thread(load_engine, sp, settings.stack.cache)
    runner = web.AppRunner(create_app(sp, engine), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, sp.bind, sp.port).start()
    except OSError as error:
        await runner.cleanup()
        engine.close()
        raise SystemExit(f"error: cannot listen on {sp.bind}:{sp.port} (SPEECH_BIND, SPEECH_PORT): {error}") from None
    log.info("speech listening", extra={"bind": sp.bind, "port": sp.port, "stt": engine.whisper.name})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("speech stopping")
    await runner.cleanup()
    engine.close()


def main() -> int:
    configure_logging("speech")
    settings = load_settings_or_exit()
    problem = startup_problem(settings)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
