"""Bounded work queues for the models: each model has its own threads, so one session's transcription never
waits behind another's speech, and a first sentence is synthesised before later sentences of other replies."""

from __future__ import annotations

import concurrent.futures
import heapq
import itertools
import threading
from collections.abc import Callable
from typing import Any

FIRST = 0  # priority of a reply's first sentence: the listener is waiting for it
LATER = 1


class Busy(RuntimeError):
    """The queue holds as many requests as it admits; the caller answers 503."""


class Admission:
    """Counts requests admitted to a model (running or waiting) and refuses those beyond ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self._lock = threading.Lock()

    def __enter__(self) -> Admission:
        with self._lock:
            if self.active >= self.limit:
                raise Busy(f"{self.active} requests in progress")
            self.active += 1
        return self

    def __exit__(self, *_exc: object) -> None:
        with self._lock:
            self.active -= 1


class PriorityPool:
    """``workers`` threads taking the lowest (priority, arrival) job first."""

    def __init__(self, name: str, workers: int = 1) -> None:
        self._heap: list[tuple[int, int, concurrent.futures.Future[Any], Callable[[], Any]]] = []
        self._order = itertools.count()
        self._ready = threading.Condition()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, priority: int, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._ready:
            if self._closed:
                raise RuntimeError("pool is shut down")
            heapq.heappush(self._heap, (priority, next(self._order), future, lambda: fn(*args)))
            self._ready.notify()
        return future

    def waiting(self) -> int:
        with self._ready:
            return len(self._heap)

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._heap and not self._closed:
                    self._ready.wait()
                if self._closed and not self._heap:
                    return
                _, _, future, call = heapq.heappop(self._heap)
            if not future.set_running_or_notify_cancel():
                continue  # the client went away before its turn
            try:
                future.set_result(call())
            except BaseException as error:  # handed to the awaiting request
                future.set_exception(error)

    def shutdown(self) -> None:
        with self._ready:
            self._closed = True
            for _, _, future, _ in self._heap:
                future.cancel()
            self._heap.clear()
            self._ready.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)
