"""``manage.py durablejobs``: the command line twin of the admin buttons."""

from __future__ import annotations

from io import StringIO

import pytest
from demo import jobs as demo
from django.core.management import CommandError, call_command

from django_durable_jobs.models import Job, QueueState, Status, Worker

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
    Worker.objects.create(id="w-cli", host="h", pid=1)
    table = run("status")
    assert "emails" in table and "paused" in table and "SMTP down" in table and "w-cli" in table
    run("resume-queue", "emails")
    with pytest.raises(CommandError, match="not paused"):
        run("resume-queue", "emails")


def test_workers_and_bad_input() -> None:
    Worker.objects.create(id="w-cli", host="h", pid=1)
    run("pause-worker", "w-cli", "--mode", "aggressive")
    assert Worker.objects.get(id="w-cli").paused
    run("resume-worker", "w-cli")
    with pytest.raises(CommandError, match="not registered"):
        run("pause-worker", "nobody")
    with pytest.raises(CommandError, match="does not exist"):
        run("pause-job", "99999")
    with pytest.raises(CommandError):
        run("pause-queue", "emails", "--until", "soon")
