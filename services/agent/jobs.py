"""The functions the worker registers for its job processes, without importing the session in the worker itself.

The worker's main process only hands these to livekit-agents; the session module (the Letta client, the
OpenAI plugin, the voice agent) is imported once in the forkserver (PRELOAD_MODULES), so every job process has
it at no cost and the main process never carries it (~27 MB less).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from livekit.agents import JobContext, JobProcess


def prewarm(proc: JobProcess) -> None:
    from services.agent.session import prewarm as run

    run(proc)


async def entrypoint(ctx: JobContext) -> None:
    from services.agent.session import entrypoint as run

    await run(ctx)
