"""A process that started livekit.rtc's native runtime exits with its own status, output flushed, and without
interpreter teardown (where that runtime could abort it); any other process exits normally."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def _python(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )


PROGRAM = """
    import atexit, sys
    from services.shared.rtc_exit import exit_process, rtc_runtime_started
    atexit.register(lambda: print("teardown ran", flush=True))
    if sys.argv[-1] == "rtc":
        from livekit.rtc._ffi_client import FfiClient
        FfiClient.instance  # starts the native runtime
    print("started:", rtc_runtime_started())
    print("work done", end="")  # no newline: only an explicit flush gets it out
    exit_process(3)
"""


@pytest.mark.parametrize(
    ("mode", "printed"),
    [
        ("rtc", "started: True\nwork done"),  # flushed, and no teardown (the atexit handler never ran)
        ("plain", "started: False\nwork doneteardown ran\n"),  # a normal exit, teardown and all
    ],
)
def test_the_status_and_output_survive_and_teardown_runs_only_without_rtc(
    tmp_path: Path, mode: str, printed: str
) -> None:
    script = tmp_path / "program.py"
    script.write_text(textwrap.dedent(PROGRAM))
    done = _python(ROOT, str(script), mode)
    assert done.returncode == 3, done.stderr
    assert done.stdout == printed


@pytest.mark.parametrize(("outcome", "status"), [("pass", 0), ("fail", 1)])
def test_a_pytest_run_that_used_rtc_keeps_pytests_exit_status_and_report(
    tmp_path: Path, outcome: str, status: int
) -> None:
    (tmp_path / "conftest.py").write_text("from tests.conftest import pytest_sessionstart, pytest_unconfigure\n")
    (tmp_path / "test_probe.py").write_text(
        textwrap.dedent(f"""
            import atexit
            from livekit.rtc._ffi_client import FfiClient

            def test_uses_rtc():
                atexit.register(lambda: print("teardown", "ran", flush=True))
                FfiClient.instance
                assert "{outcome}" == "pass"
        """)
    )
    done = _python(tmp_path, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "test_probe.py"))
    assert done.returncode == status, done.stdout + done.stderr
    assert ("1 passed" if status == 0 else "1 failed") in done.stdout
    assert "teardown ran" not in done.stdout
