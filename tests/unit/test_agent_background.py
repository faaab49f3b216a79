"""A job's blocking side work runs in a daemon thread: its outcome comes back, and it never keeps the job's
process alive once the job is over (a held process is a held job slot)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from services.agent.background import in_daemon_thread

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_the_result_and_the_exception_come_back() -> None:
    def fail() -> None:
        raise ValueError("no model")

    async def main() -> None:
        assert await in_daemon_thread(lambda: 42, "answer") == 42
        with pytest.raises(ValueError, match="no model"):
            await in_daemon_thread(fail, "failing")

    asyncio.run(main())


def test_an_unfinished_call_does_not_hold_the_process_at_its_end() -> None:
    program = textwrap.dedent("""
        import asyncio, time
        from services.agent.background import in_daemon_thread

        async def main():
            asyncio.create_task(in_daemon_thread(lambda: time.sleep(30), "warm-up"))
            await asyncio.sleep(0)  # the thread is running; the job ends here

        asyncio.run(main())
        print("loop closed", flush=True)
    """)
    # with asyncio.to_thread the loop's shutdown waits the whole 30 s, past this 20 s deadline
    done = subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=20,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "loop closed\n"
