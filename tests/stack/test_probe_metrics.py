"""`make probe` (python -m services.smoke --every N --metrics-port P) against the running stack: its Prometheus
metrics report a real round trip, and a broken setting (a wrong Letta password) moves the failure metrics."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.shared.settings import Settings
from services.smoke.checks import CHECKS
from tests.helpers import ROOT, eventually

pytestmark = pytest.mark.stack

EVERY = 30  # the shortest interval the probe accepts
FIRST_RUN_S = 300  # one full run of the smoke checks on a loaded 2-core machine, with margin
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def probing(tmp: Path, env: dict[str, str] | None = None) -> Iterator[tuple[int, Path]]:
    """The probe running in its own process; stopped (and waited for) at the end."""
    port = free_port()
    out = tmp / f"probe-{port}.log"
    with out.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.smoke", "--every", str(EVERY), "--metrics-port", str(port)],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield port, out
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def samples(port: int) -> Samples:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def runs(found: Samples, outcome: str) -> float:
    return found.get(("lvs_probe_runs_total", (("outcome", outcome),)), 0.0)


def check_value(found: Samples, metric: str, check: str) -> float | None:
    return found.get((metric, (("check", check),)))


def test_probe_metrics_report_a_real_round_trip(stack: Settings, tmp_path: Path) -> None:
    started = time.time()
    with probing(tmp_path) as (port, out):
        found = eventually(
            lambda: (s := samples(port)) and runs(s, "pass") + runs(s, "fail") >= 1 and s,
            FIRST_RUN_S,
            what="the probe's first run",
        )
        assert runs(found, "pass") == 1 and runs(found, "fail") == 0, out.read_text()[-3000:]
        for name, _ in [*CHECKS, ("cleanup", None)]:
            assert check_value(found, "lvs_probe_check_ok", name) == 1, f"{name}: {out.read_text()[-2000:]}"
            assert (check_value(found, "lvs_probe_check_seconds", name) or 0) > 0, f"{name} took no time"
        # the round trip really happened: its audio check took the time of speech and an answer
        assert check_value(found, "lvs_probe_check_seconds", "audio round trip") >= 1.0
        last = found[("lvs_probe_last_run_timestamp_seconds", ())]
        assert started < last <= time.time()
        assert '"probe": "pass"' in out.read_text()


def test_a_broken_setting_moves_the_failure_metrics(stack: Settings, tmp_path: Path) -> None:
    with probing(tmp_path, {"LETTA_PASSWORD": "not-the-letta-password"}) as (port, out):
        found = eventually(
            lambda: (s := samples(port)) and runs(s, "pass") + runs(s, "fail") >= 1 and s,
            FIRST_RUN_S,
            what="the broken probe's first run",
        )
        assert runs(found, "fail") == 1 and runs(found, "pass") == 0, out.read_text()[-3000:]
        assert check_value(found, "lvs_probe_check_ok", "Letta contract") == 0, out.read_text()[-3000:]
        assert check_value(found, "lvs_probe_check_ok", "health endpoints") == 1, "the healthy part still passes"
        assert '"probe": "fail"' in out.read_text()
