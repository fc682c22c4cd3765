"""``manage.py demo``: migrate, enqueue demo work, run a worker, print progress."""

from __future__ import annotations

import threading
import time
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db.models import Count

from demo import jobs as demo
from django_durable_jobs import signals
from django_durable_jobs.models import Job, Status
from django_durable_jobs.worker import Pool, Worker


class Command(BaseCommand):
    help = "Run the django-durable-jobs demo end to end and exit."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--jobs", type=int, default=2000, help="How many small jobs to enqueue.")

    def handle(self, *args: Any, jobs: int, **options: Any) -> None:
        call_command("migrate", verbosity=0)
        Job.objects.all().delete()
        self.stdout.write(f"Enqueuing {jobs} jobs, a workflow and a 50-child fan-out...")
        demo.add.enqueue_many([((i, i), {}) for i in range(jobs // 2)])
        demo.send_email.enqueue_many([((f"user{i}@example.com",), {}) for i in range(jobs // 2)])
        demo.flaky.enqueue(2, "demo")
        order = demo.process_order.enqueue({"amount": 42, "items": ["book", "pen"]})
        fan = demo.sum_squares.enqueue(50)

        retrying = [0]
        signals.job_retrying.connect(lambda **kw: retrying.__setitem__(0, retrying[0] + 1), weak=False)
        worker = Worker([Pool(queues=None, concurrency=8)], burst=True, worker_id="demo-worker")
        thread = threading.Thread(target=worker.run, name="demo-worker")
        started = time.monotonic()
        thread.start()
        previous = (0, 0, 0)
        while thread.is_alive():
            thread.join(timeout=1.0)
            counts = dict(Job.objects.values_list("status").annotate(n=Count("id")))
            done, failed = counts.get(Status.COMPLETED, 0), counts.get(Status.FAILED, 0)
            self.stdout.write(
                f"[{time.monotonic() - started:5.1f}s] done {done:>6} (+{done - previous[0]}/s)  "
                f"failed {failed} (+{failed - previous[1]}/s)  "
                f"retrying {retrying[0]} (+{retrying[0] - previous[2]}/s)  "
                f"pending {counts.get(Status.PENDING, 0)}  waiting {counts.get(Status.WAITING, 0)}"
            )
            previous = (done, failed, retrying[0])
        order.refresh_from_db()
        fan.refresh_from_db()
        self.stdout.write(
            self.style.SUCCESS(
                f"Finished in {time.monotonic() - started:.1f}s. Workflow process_order -> {order.result!r}; "
                f"fan-out sum_squares(50) -> {fan.result!r}."
            )
        )
