"""Carry the shared log context (room, job, letta_agent_id) across the job-process log pipe.

Job processes send their records to the worker process, which formats them; the context ids live
in the job process, so a handler filter copies them onto each record before it is sent.
"""

from __future__ import annotations

import logging
from enum import Enum

from services.shared import logging as shared_logging

# The attributes every LogRecord has; anything else on a record is an `extra`.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_PLAIN = (str, int, float, bool, type(None))


def plain(value: object) -> object:
    """An extra's value as a builtin: the worker process unpickles every record of its job processes in a
    thread, and a value of one of our classes (an enum) makes it import that module there, which registers
    livekit plugins off the main thread: the log thread died with "Plugins must be registered on the main
    thread" and every later job log was lost."""
    if isinstance(value, Enum):
        return plain(value.value)
    if type(value) in _PLAIN:
        return value
    for base in (bool, int, float, str):  # a subclass from some library: as its builtin base
        if isinstance(value, base):
            return base(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return str(value)


class ContextFilter(logging.Filter):
    """Copy the current log context onto the record (without overwriting explicit extras); extras as builtins."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in shared_logging.current_context().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        for key, value in list(vars(record).items()):
            if key not in _RECORD_FIELDS:
                setattr(record, key, plain(value))
        return True


def install_context_filter() -> None:
    """Add the filter to every root handler of this process (idempotent)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, ContextFilter) for f in handler.filters):
            handler.addFilter(ContextFilter())
