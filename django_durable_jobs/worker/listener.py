"""LISTEN for new work and control wake-ups, so that nothing waits for a poll (internal).

Where the job database can notify (PostgreSQL), one dedicated connection
LISTENs on the storage engine's channels; elsewhere (SQLite)
:meth:`Listener.available` is False and the worker polls. Notifications are
hints: the rows are the truth, so a lost one costs one poll interval at most.
A control notification carries no payload: it only makes the control loop
re-read pauses and leases now.

The LISTEN connection is built from the parameters of ``LISTEN_DATABASE``
(an alias in ``DATABASES``; by default the job database's own): a session
that must stay on one server connection, which PgBouncer in transaction mode
does not give, so behind PgBouncer it names a direct connection. With
``LISTEN_DATABASE = None`` nothing LISTENs and the worker polls.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..conf import jobs_settings
from ..storage import engine
from .health import Outage

logger = logging.getLogger("django_durable_jobs.worker")


class Listener:
    """Holds one LISTEN connection (reopened with backoff after any error) until ``stopping``.

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
        on_control: Callable[[], None],
    ) -> None:
        self.using = using
        self._queues = queues
        self._wake = wake
        self._stopping = stopping
        self._on_control = on_control
        self._work_channel = engine(using).work_channel

    @staticmethod
    def available(using: str) -> bool:
        """Whether the worker should LISTEN: the job database can notify and LISTEN_DATABASE allows it.

        Elsewhere the worker polls; when that is because ``LISTEN_DATABASE``
        is None, this logs one line saying so (a worker calls it once, at start).
        """
        if not engine(using).listen_channels:
            return False  # SQLite: polling is the only way
        if jobs_settings.LISTEN_DATABASE is None:
            logger.warning(
                "LISTEN_DATABASE is None: this worker does not LISTEN and polls for new work "
                "every %s s (POLL_SECONDS)",
                jobs_settings.POLL_SECONDS,
            )
            return False
        return True

    def run(self) -> None:
        import psycopg  # only PostgreSQL workers need it

        storage = engine(self.using)
        params = storage.listen_params(listen_alias(self.using))
        outage = Outage("listener", self.using)
        while not self._stopping.is_set():
            try:
                with psycopg.connect(**params, autocommit=True) as conn:
                    for channel in storage.listen_channels:
                        conn.execute(f"LISTEN {channel}")
                    outage.ok()
                    self._wake.set()  # anything missed while not listening
                    self._on_control()
                    while not self._stopping.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._dispatch(note.channel, note.payload)
            except Exception as exc:  # noqa: BLE001 - any failure: reconnect
                if self._stopping.is_set():
                    return
                self._stopping.wait(outage.failed(exc))

    def _dispatch(self, channel: str, payload: str) -> None:
        if channel == self._work_channel:
            if self._queues is None or payload in self._queues:
                self._wake.set()
        else:
            self._on_control()


def listen_alias(using: str) -> str:
    """The alias whose connection parameters the LISTEN connection of job database ``using`` uses."""
    return jobs_settings.LISTEN_DATABASE or using
