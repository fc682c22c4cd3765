"""LISTEN for new work and control messages, so that nothing waits for a poll (internal).

The one worker module that knows about database dialects: PostgreSQL's
LISTEN/NOTIFY, its channel names and how to open a dedicated connection.
Elsewhere (SQLite) :meth:`Listener.available` is False and the worker polls.
Notifications are hints: the rows are the truth, so a lost one costs one
poll interval at most.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from .. import db
from ..storage import engine

logger = logging.getLogger("django_durable_jobs.worker")


class Listener:
    """Holds one LISTEN connection (reopened with a pause after any error) until ``stopping``.

    ``queues``: the queues the worker serves (None: every queue); a
    notification for another queue does not wake it.
    """

    def __init__(
        self,
        using: str,
        queues: set[str] | None,
        *,
        wake: threading.Event,
        stopping: threading.Event,
        on_control: Callable[[dict[str, Any]], None],
    ) -> None:
        self.using = using
        self._queues = queues
        self._wake = wake
        self._stopping = stopping
        self._on_control = on_control

    @staticmethod
    def available(using: str) -> bool:
        """Whether the database can notify (PostgreSQL); elsewhere the worker polls."""
        return db.is_postgres(using)

    def run(self) -> None:
        import psycopg  # only PostgreSQL workers need it

        params = engine(self.using).listen_params()
        while not self._stopping.is_set():
            try:
                with psycopg.connect(**params, autocommit=True) as conn:
                    conn.execute(f"LISTEN {db.WORK_CHANNEL}")
                    conn.execute(f"LISTEN {db.CONTROL_CHANNEL}")
                    self._wake.set()  # anything missed while not listening
                    while not self._stopping.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._dispatch(note.channel, note.payload)
            except Exception:
                if self._stopping.is_set():
                    return
                logger.exception("LISTEN connection lost; reconnecting")
                time.sleep(1.0)

    def _dispatch(self, channel: str, payload: str) -> None:
        if channel == db.WORK_CHANNEL:
            if self._queues is None or payload in self._queues:
                self._wake.set()
        else:
            self._on_control(json.loads(payload))
