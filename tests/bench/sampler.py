"""CPU and resident memory of process trees (a service and all its children), sampled in a background thread."""

from __future__ import annotations

import contextlib
import statistics
import threading
from dataclasses import dataclass
from types import TracebackType

import psutil


@dataclass(frozen=True)
class Usage:
    """What a process tree used while sampled: CPU in % of one core, resident memory (RSS, PSS) in MiB."""

    cpu_mean: float
    rss_mean: float
    rss_peak: float
    pss_mean: float | None  # None: PSS not sampled for this tree
    pss_peak: float | None
    samples: int


class TreeSampler:
    """Sample the trees under `roots` (name -> root pids) every `interval` seconds while in the `with` block.

    RSS is summed over every process of a tree, so pages shared after a fork count once per process; PSS
    (for the trees named in `pss`: reading it costs ~7 ms per process) splits shared pages between them.
    """

    def __init__(self, roots: dict[str, list[int]], interval: float = 0.5, pss: frozenset[str] = frozenset()) -> None:
        self.roots = roots
        self.interval = interval
        self.pss = pss
        self._procs: dict[int, psutil.Process] = {}  # kept, so cpu_percent() measures since the last sample
        self._cpu: dict[str, list[float]] = {name: [] for name in roots}
        self._rss: dict[str, list[float]] = {name: [] for name in roots}
        self._pss: dict[str, list[float]] = {name: [] for name in roots}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-sampler", daemon=True)

    def __enter__(self) -> TreeSampler:
        for pids in self.roots.values():
            for proc in self._tree(pids):  # primes cpu_percent(), whose first call has nothing to compare with
                with contextlib.suppress(psutil.Error):
                    proc.cpu_percent()
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def usage(self, name: str) -> Usage:
        cpu, rss, pss = self._cpu[name] or [0.0], self._rss[name] or [0.0], self._pss[name]
        return Usage(
            statistics.fmean(cpu),
            statistics.fmean(rss),
            max(rss),
            statistics.fmean(pss) if pss else None,
            max(pss) if pss else None,
            len(self._cpu[name]),
        )

    def _tree(self, pids: list[int]) -> list[psutil.Process]:
        found: dict[int, psutil.Process] = {}
        for pid in pids:
            try:
                root = self._procs.setdefault(pid, psutil.Process(pid))
                found.update({p.pid: p for p in [root, *root.children(recursive=True)]})
            except psutil.Error:
                continue
        return [self._procs.setdefault(pid, p) for pid, p in found.items()]

    def _read(self, trees: dict[str, list[psutil.Process]]) -> dict[int, tuple[float, float, float]]:
        """(CPU %, RSS MiB, PSS MiB or 0) of every process in the trees, each read once: trees may overlap (the
        whole stack holds the worker's), and cpu_percent() measures since its own previous call."""
        wants_pss = {p.pid for name, procs in trees.items() if name in self.pss for p in procs}
        readings = {}
        for proc in {p.pid: p for procs in trees.values() for p in procs}.values():
            try:
                pss = proc.memory_full_info().pss / 1048576 if proc.pid in wants_pss else 0.0
                readings[proc.pid] = (proc.cpu_percent(), proc.memory_info().rss / 1048576, pss)
            except psutil.Error:
                self._procs.pop(proc.pid, None)
        return readings

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            trees = {name: self._tree(pids) for name, pids in self.roots.items()}
            readings = self._read(trees)
            for name, procs in trees.items():
                got = [readings[p.pid] for p in procs if p.pid in readings]
                self._cpu[name].append(sum(r[0] for r in got))
                self._rss[name].append(sum(r[1] for r in got))
                if name in self.pss:
                    self._pss[name].append(sum(r[2] for r in got))
