"""Blocking work of a job that must not keep its process alive once the job is over.

``asyncio.to_thread`` runs on the loop's default executor, and a job process shuts its loop down the way
``asyncio.run`` does: it waits for every executor thread. A prompt warm-up still running (6-10 s of llama.cpp
on 2 cores) then kept an ended job's process, and so its job slot, alive for seconds: workers refused new rooms
"at capacity" with free slots in fact. A daemon thread is simply dropped when the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def in_daemon_thread(fn: Callable[[], T], name: str) -> T:
    """``fn()`` in a daemon thread of its own; its result or exception comes back to the awaiting task."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def deliver(setter: Callable[[Any], None], value: Any) -> None:
        if not done.done():  # the awaiting task may have been cancelled meanwhile
            setter(value)

    def run() -> None:
        try:
            outcome: tuple[Callable[[Any], None], Any] = (done.set_result, fn())
        except BaseException as exc:  # handed to the awaiting task, which decides
            outcome = (done.set_exception, exc)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits for it any more
            loop.call_soon_threadsafe(deliver, *outcome)

    threading.Thread(target=run, name=name, daemon=True).start()
    return await done
