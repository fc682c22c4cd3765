"""``manage.py durablejobs``: the command line twin of the admin buttons."""

from __future__ import annotations

from io import StringIO

import pytest
from demo import jobs as demo
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.test import override_settings

from django_durable_jobs.models import Job, QueueState, Status, Worker

from ..factories import JobFactory, WorkerFactory

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> str:
    out = StringIO()
    call_command("durablejobs", *args, stdout=out)
    return out.getvalue()


def test_pause_and_resume_a_job() -> None:
    job = demo.add.enqueue(1, 2)
    assert "paused" in run("pause-job", str(job.pk), "--mode", "aggressive", "--reason", "why", "--by", "ops")
    row = Job.objects.get(pk=job.pk)
    assert (row.status, row.paused_by, row.pause_reason) == (Status.PAUSED, "ops", "why")
    with pytest.raises(CommandError, match="already paused"):
        run("pause-job", str(job.pk))
    assert "pending" in run("resume-job", str(job.pk))
    assert "cancelled" in run("cancel-job", str(job.pk))
    assert "pending" in run("retry-job", str(job.pk))


def test_pause_queue_until_and_status_table() -> None:
    demo.add.using(queue="emails").enqueue(1, 2)
    run("pause-queue", "emails", "--reason", "SMTP down", "--until", "30m")
    state = QueueState.objects.get(queue="emails")
    assert state.paused and state.reason == "SMTP down" and state.paused_until is not None
    WorkerFactory(id="w-cli")
    table = run("status")
    assert "emails" in table and "paused" in table and "SMTP down" in table and "w-cli" in table
    run("resume-queue", "emails")
    with pytest.raises(CommandError, match="not paused"):
        run("resume-queue", "emails")


def test_workers_and_bad_input() -> None:
    WorkerFactory(id="w-cli")
    run("pause-worker", "w-cli", "--mode", "aggressive")
    assert Worker.objects.get(id="w-cli").paused
    run("resume-worker", "w-cli")
    with pytest.raises(CommandError, match="not registered"):
        run("pause-worker", "nobody")
    with pytest.raises(CommandError, match="does not exist"):
        run("pause-job", "99999")
    with pytest.raises(CommandError):
        run("pause-queue", "emails", "--until", "soon")


def test_status_counts_jobs_per_queue_and_tells_live_workers_from_dead_ones() -> None:
    JobFactory.create_batch(2, queue="emails")
    JobFactory(running=True, queue="emails", worker_id="w-live")
    WorkerFactory(id="w-live", alive=True)
    WorkerFactory(id="w-paused", alive=True, paused=True)
    WorkerFactory(id="w-dead", dead=True)
    WorkerFactory(id="w-stopped", stopped=True)
    rows = {line.split()[0]: line.split() for line in run("status").splitlines() if line.strip()}
    assert rows["QUEUE"][2:] == [*(status.value for status in Status), "DONE/MIN", "P95_WAIT"]
    assert rows["emails"][1:] == ["running", "2", "1", "0", "0", "0", "0", "0", "0", "-"]
    assert (rows["w-live"][3], rows["w-live"][-1]) == ("1", "running")
    assert (rows["w-paused"][3], rows["w-paused"][-1]) == ("0", "paused")
    assert rows["w-dead"][-1] == "dead"
    assert "w-stopped" not in rows


def test_status_reads_the_job_tables_database() -> None:
    with override_settings(DURABLE_JOBS={"DATABASE": "jobs_elsewhere"}):
        with pytest.raises(ImproperlyConfigured, match="jobs_elsewhere"):
            run("status")
