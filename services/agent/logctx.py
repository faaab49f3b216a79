"""Carry the shared log context (room, job, letta_agent_id) across the job-process log pipe.

Job processes send their records to the worker process, which formats them; the context ids live
in the job process, so a handler filter copies them onto each record before it is sent.
"""

from __future__ import annotations

import logging

from services.shared import logging as shared_logging


class ContextFilter(logging.Filter):
    """Copy the current log context onto the record (without overwriting explicit extras)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in shared_logging.current_context().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def install_context_filter() -> None:
    """Add the filter to every root handler of this process (idempotent)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, ContextFilter) for f in handler.filters):
            handler.addFilter(ContextFilter())
