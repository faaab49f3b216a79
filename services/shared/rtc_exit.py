"""Ending a process that has used livekit.rtc (the smoke check, the test and bench runs).

livekit.rtc runs a native (Rust, tokio) runtime whose threads call back into Python. When the interpreter
finalizes while one of them is in such a callback, CPython ends that thread with ``pthread_exit``; the forced
unwind crosses a Rust frame that cannot unwind, and the whole process aborts (exit 134) after its work has
finished and been reported. Such a process therefore ends with ``os._exit`` once its output is flushed: the
kernel closes its sockets, and nothing is left to tear down.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import NoReturn


def rtc_runtime_started() -> bool:
    """True once this process has started livekit.rtc's native runtime (a Room, an AudioSource …)."""
    ffi = sys.modules.get("livekit.rtc._ffi_client")
    return ffi is not None and getattr(ffi.FfiClient, "_instance", None) is not None


def exit_process(code: int) -> NoReturn:
    """Exit with ``code``: without interpreter teardown when livekit.rtc's runtime is running, else normally."""
    if not rtc_runtime_started():
        sys.exit(code)
    logging.shutdown()  # flushes every handler
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more can reach it anyway
            stream.flush()
    os._exit(code)
