"""`make smoke` passes against the stack the tests started, and prints one line per check."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from services.shared.settings import Settings

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parents[2]


def test_smoke_passes_and_cleans_up(stack: Settings) -> None:
    result = subprocess.run(
        [str(stack.stack.dir / "venv/bin/python"), "-m", "tests.smoke", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(result.stdout)
    failed = [c for c in report["checks"] if not c["ok"]]
    assert not failed and result.returncode == 0, json.dumps(failed, indent=2)
    names = [c["check"] for c in report["checks"]]
    assert names[0] == "health endpoints" and names[-1] == "cleanup"
    assert report["passed"] == len(names)
