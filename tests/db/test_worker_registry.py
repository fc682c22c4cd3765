"""The registry row of a restarting worker: it keeps its pause, and never undoes one made meanwhile."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connections

from django_durable_jobs import resume_worker
from django_durable_jobs.models import PauseMode, Worker
from django_durable_jobs.state import control
from tests.factories import WorkerFactory

pytestmark = pytest.mark.django_db(transaction=True)


def register(worker_id: str) -> PauseMode | None:
    return control.register_worker(worker_id, host="host", pid=1, queues=[], concurrency=1)


def test_a_restart_under_the_same_id_keeps_its_pause() -> None:
    worker = WorkerFactory(paused=True, pause_mode=PauseMode.AGGRESSIVE)
    assert register(worker.pk) == PauseMode.AGGRESSIVE
    assert Worker.objects.get(pk=worker.pk).paused


@pytest.mark.postgres_only
def test_a_resume_while_a_paused_worker_restarts_is_kept(monkeypatch) -> None:
    """The restart reads the row (paused), then a resume commits, then the restart writes the row."""
    worker = WorkerFactory(paused=True, pause_mode=PauseMode.GRACEFUL)

    def resume() -> None:
        try:
            resume_worker(worker.pk, by="ops")
        finally:
            connections.close_all()

    resumer = threading.Thread(target=resume)
    real_save = Worker.save

    def save(self: Worker, *args: Any, **kwargs: Any) -> None:
        if threading.current_thread() is not resumer:  # the restart's save
            resumer.start()
            resumer.join(0.5)  # done at once, unless the restart holds the row's lock
        real_save(self, *args, **kwargs)

    monkeypatch.setattr(Worker, "save", save)
    register(worker.pk)
    resumer.join(10)
    row = Worker.objects.get(pk=worker.pk)
    assert (row.paused, row.pid, row.host) == (False, 1, "host")
