"""The benchmarks' process-tree sampler: trees that overlap (the whole stack holds the worker) each count the CPU of
the processes they share."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.bench.sampler import TreeSampler

pytestmark = pytest.mark.unit


def test_overlapping_trees_both_count_a_busy_child() -> None:
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        with TreeSampler({"child": [busy.pid], "parent": [os.getpid()]}, interval=0.2) as sampler:
            deadline = time.monotonic() + 30
            while sampler.usage("parent").samples < 6 and time.monotonic() < deadline:
                time.sleep(0.05)
        child, parent = sampler.usage("child"), sampler.usage("parent")
    finally:
        busy.kill()
        busy.wait(timeout=10)
    assert parent.samples >= 6, "the sampler took no samples"
    assert child.cpu_mean > 5, f"a busy loop used {child.cpu_mean:.1f}% of a core"
    # the parent's tree holds the child: read once per round, its CPU counts in both trees
    assert parent.cpu_mean >= 0.8 * child.cpu_mean, (parent.cpu_mean, child.cpu_mean)
    assert parent.rss_mean > child.rss_mean > 0
