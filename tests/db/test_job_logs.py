"""Every job start and finish is a log record whose fields a JSON formatter picks up (a real worker)."""

from __future__ import annotations

import json
import logging
import threading

import pytest
from demo import jobs as demo

from django_durable_jobs.models import Job, Status
from django_durable_jobs.models import Worker as WorkerRow
from django_durable_jobs.worker import Pool, Worker

from ..conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

FIELDS = ("job_id", "job_name", "queue", "attempt")


class JsonFormatter(logging.Formatter):
    """What a JSON log formatter does: the message, plus every ``extra`` field as a key."""

    standard = set(vars(logging.makeLogRecord({})))

    def format(self, record: logging.LogRecord) -> str:
        extra = {k: v for k, v in vars(record).items() if k not in self.standard and k != "message"}
        return json.dumps({"message": record.getMessage(), **extra})


@pytest.fixture
def worker():
    w = Worker([Pool(queues=None, concurrency=2)], worker_id="logging")
    thread = threading.Thread(target=w.run, daemon=True)
    thread.start()
    wait_for(lambda: WorkerRow.objects.filter(id="logging").exists())
    yield w
    w.stop()
    thread.join(timeout=30)


def test_each_start_and_finish_is_logged_with_its_fields(worker, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="django_durable_jobs.worker")
    done = demo.add.enqueue(2, 3)
    failed = demo.maybe_fail.enqueue(1, fail=True)
    retried = demo.flaky.using(retries=1).enqueue(1, "logs")
    ids = [done.pk, failed.pk, retried.pk]
    wait_for(
        lambda: Job.objects.filter(pk__in=ids, status__in=[Status.COMPLETED, Status.FAILED]).count() == 3
    )

    def logged() -> list[dict]:
        return [
            json.loads(JsonFormatter().format(r)) for r in caplog.records if getattr(r, "job_id", None) in ids
        ]

    # A finish is logged once its outcome has committed: the last one may come just after the rows show it.
    wait_for(lambda: sum("outcome" in line for line in logged()) == 4)
    lines = logged()
    starts = [line for line in lines if "outcome" not in line]
    ends = [line for line in lines if "outcome" in line]
    assert sorted((s["job_id"], s["attempt"]) for s in starts) == sorted(
        [(done.pk, 1), (failed.pk, 1), (retried.pk, 1), (retried.pk, 2)]
    )
    outcomes = sorted((e["job_id"], e["attempt"], e["outcome"]) for e in ends)
    assert outcomes == sorted(
        [
            (done.pk, 1, "completed"),
            (failed.pk, 1, "failed"),
            (retried.pk, 1, "retried"),
            (retried.pk, 2, "completed"),
        ]
    )
    for line in lines:
        assert line["queue"] == "default"
        assert line["job_name"] in ("demo.add", "demo.maybe_fail", "demo.flaky")
        assert set(FIELDS) <= set(line)
    for end in ends:
        assert isinstance(end["duration_ms"], float) and 0 <= end["duration_ms"] < 10_000
        assert str(end["job_id"]) in end["message"] and end["outcome"] in end["message"]
