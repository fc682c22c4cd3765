"""The worker's Python API: ``worker.pause(mode)``, ``resume()``, ``is_paused``, ``pause_mode``."""

from __future__ import annotations

import threading
import time

import pytest
from demo import jobs as demo

from django_durable_jobs import PauseMode
from django_durable_jobs.models import Job, Status
from django_durable_jobs.models import Worker as WorkerRow
from django_durable_jobs.worker import Pool, Worker

from ..conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker():
    w = Worker([Pool(queues=None, concurrency=2)], worker_id="in-process")
    thread = threading.Thread(target=w.run, daemon=True)
    thread.start()
    wait_for(lambda: WorkerRow.objects.filter(id="in-process").exists())
    yield w
    w.stop()
    thread.join(timeout=30)
    assert not thread.is_alive()


def test_pause_and_resume_in_process(worker) -> None:
    assert not worker.is_paused and worker.pause_mode is None
    worker.pause(by="test")
    assert worker.is_paused and worker.pause_mode == PauseMode.GRACEFUL
    assert WorkerRow.objects.get(id="in-process").paused, "visible to admins"
    job = demo.add.enqueue(1, 2)
    time.sleep(1.5)
    assert Job.objects.get(pk=job.pk).status == Status.PENDING
    worker.resume()
    assert not worker.is_paused
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Status.COMPLETED, timeout=10)


def test_aggressive_pause_in_process_puts_running_jobs_back(worker) -> None:
    job = demo.spin.enqueue(30.0)
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Status.RUNNING)
    worker.pause(PauseMode.AGGRESSIVE)
    assert worker.pause_mode == PauseMode.AGGRESSIVE
    row = Job.objects.get(pk=job.pk)
    assert row.status == Status.PENDING and row.attempt == 0
    time.sleep(1.0)
    assert Job.objects.get(pk=job.pk).status == Status.PENDING
    Job.objects.filter(pk=job.pk).update(args=[0.01])
    worker.resume()
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Status.COMPLETED, timeout=10)
