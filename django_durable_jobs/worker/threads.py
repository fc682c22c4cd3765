"""The threads that run handlers, one of which can be given up on (internal).

A thread cannot be killed: a handler blocked in a C call (a long sleep, a
socket read without a timeout) keeps its thread until the call returns.
:meth:`HandlerThreads.abandon` replaces such a thread with a fresh one, so
the worker keeps its full concurrency; the abandoned thread exits on its
own whenever its handler returns, and nothing it does then is recorded
(its job was taken from it, and every write it tries is fenced off).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("django_durable_jobs.worker")

Task = tuple[Callable[..., None], tuple[Any, ...]]


class HandlerThreads:
    """``size`` daemon threads taking tasks from one queue."""

    def __init__(self, size: int, name: str) -> None:
        self._name = name
        self._tasks: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._abandoned: set[int] = set()
        self._count = 0
        self._closed = False
        for _ in range(size):
            self._spawn()

    def submit(self, func: Callable[..., None], *args: Any) -> None:
        self._tasks.put((func, args))

    def abandon(self, thread_id: int) -> None:
        """Give up on the thread ``thread_id`` (busy in a handler) and start another in its place."""
        with self._lock:
            if thread_id in self._abandoned or self._closed:
                return
            self._abandoned.add(thread_id)
        self._spawn()

    @property
    def abandoned(self) -> int:
        """Threads given up on that have not exited yet."""
        with self._lock:
            return len(self._abandoned)

    def shutdown(self) -> None:
        """Let idle threads exit; tasks not started yet are dropped."""
        with self._lock:
            self._closed = True
            threads = self._count
        while True:
            try:
                self._tasks.get_nowait()
            except queue.Empty:
                break
        for _ in range(threads):
            self._tasks.put(None)

    def _spawn(self) -> None:
        with self._lock:
            self._count += 1
            number = self._count
        threading.Thread(target=self._loop, name=f"{self._name}-{number}", daemon=True).start()

    def _loop(self) -> None:
        me = threading.get_ident()
        while True:
            task = self._tasks.get()
            if task is None:
                return
            func, args = task
            try:
                func(*args)
            except BaseException:  # noqa: BLE001 - a task must never end a handler thread
                logger.exception("uncaught error in a handler thread")
            with self._lock:
                if me in self._abandoned:  # replaced long ago: leave the work to the others
                    self._abandoned.discard(me)
                    return
