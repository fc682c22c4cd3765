"""Retention: what pruning deletes and what it keeps, in batches, and ``durablejobs prune``."""

from __future__ import annotations

import functools
import subprocess
import sys
import threading
import time
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from demo import jobs as demo
from django.core.management import CommandError, call_command
from django.db import connections, transaction
from django.utils import timezone

from django_durable_jobs import every
from django_durable_jobs.conf import jobs_settings
from django_durable_jobs.models import TERMINAL, Checkpoint, FanOut, Job, Status
from django_durable_jobs.scheduling import firing
from django_durable_jobs.state import retention
from django_durable_jobs.storage import engine
from django_durable_jobs.storage import retention as storage

from ..factories import CheckpointFactory, FanOutFactory, JobFactory, make_children

pytestmark = pytest.mark.django_db(transaction=True)

DAY = timedelta(days=1)


def finished(status: str = Status.COMPLETED, age: timedelta = 40 * DAY, **fields: Any) -> Job:
    """A job that finished ``age`` ago."""
    return JobFactory(status=status, finished_at=timezone.now() - age, **fields)


def ids() -> set[int]:
    return set(Job.objects.values_list("id", flat=True))


def run(*args: str, stdout: Any = None) -> str:
    out = stdout or StringIO()
    call_command("durablejobs", "prune", *args, stdout=out)
    return out.getvalue()


# --------------------------------------------------------------------------- what goes, what stays


def test_expired_finished_jobs_go_and_everything_else_stays() -> None:
    gone = [
        finished(Status.COMPLETED, 8 * DAY),
        finished(Status.FAILED, 31 * DAY),
        finished(Status.CANCELLED, 31 * DAY),
    ]
    kept = [
        finished(Status.COMPLETED, 6 * DAY),
        finished(Status.FAILED, 29 * DAY),
        finished(Status.CANCELLED, 29 * DAY),
        JobFactory(status=Status.PENDING, created_at=timezone.now() - 400 * DAY),
        JobFactory(status=Status.RUNNING, started_at=timezone.now() - 400 * DAY),
        JobFactory(status=Status.PAUSED, updated_at=timezone.now() - 400 * DAY),
        JobFactory(status=Status.WAITING, updated_at=timezone.now() - 400 * DAY),
    ]
    pruned = retention.prune()
    assert (pruned.jobs, pruned.busy, pruned.more) == (3, False, False)
    assert ids() == {job.pk for job in kept}
    assert not {job.pk for job in gone} & ids()


def test_none_keeps_a_status_forever_and_numbers_are_seconds(settings) -> None:
    settings.DURABLE_JOBS = {"RETENTION": {"failed": None, "completed": 60}}
    forever = finished(Status.FAILED, 5000 * DAY)
    minute_old = finished(Status.COMPLETED, timedelta(seconds=30))
    gone = finished(Status.COMPLETED, timedelta(seconds=90))
    default_cancelled = finished(Status.CANCELLED, 29 * DAY)  # left out: keeps its 30 days
    assert retention.prune().jobs == 1
    assert ids() == {forever.pk, minute_old.pk, default_cancelled.pk}
    assert gone.pk not in ids()


def test_a_queue_overrides_retention_for_the_statuses_it_names(settings) -> None:
    settings.DURABLE_JOBS = {
        "QUEUES": {
            "emails": {"rate_limit": "50/s", "retention": {"completed": timedelta(hours=1)}},
            "audit": {"retention": {"completed": None, "failed": None}},
        }
    }
    emails_old = finished(Status.COMPLETED, timedelta(hours=2), queue="emails")
    emails_new = finished(Status.COMPLETED, timedelta(minutes=30), queue="emails")
    emails_failed = finished(Status.FAILED, 29 * DAY, queue="emails")  # the default 30 days
    default_two_hours = finished(Status.COMPLETED, timedelta(hours=2))
    audit = finished(Status.COMPLETED, 900 * DAY, queue="audit")
    audit_cancelled = finished(Status.CANCELLED, 31 * DAY, queue="audit")  # not overridden
    assert retention.prune().jobs == 2
    assert ids() == {emails_new.pk, emails_failed.pk, default_two_hours.pk, audit.pk}
    assert not {emails_old.pk, audit_cancelled.pk} & ids()


def test_checkpoints_and_fanouts_go_with_their_job() -> None:
    job = finished()
    CheckpointFactory(job=job)
    CheckpointFactory(job=job)
    other = CheckpointFactory(job=finished(age=DAY)).job
    pruned = retention.prune()
    assert (pruned.jobs, pruned.checkpoints, pruned.fanouts) == (1, 2, 0)
    assert ids() == {other.pk}
    assert list(Checkpoint.objects.values_list("job_id", flat=True)) == [other.pk]


def test_a_job_deleted_through_the_orm_takes_its_checkpoints_and_fanouts() -> None:
    """No database constraint ties them to their job (pruning is faster without): Django cascades."""
    job = finished()
    CheckpointFactory(job=job)
    FanOutFactory(parent=job)
    kept = CheckpointFactory(job=finished()).job
    Job.objects.filter(pk=job.pk).delete()
    assert list(Checkpoint.objects.values_list("job_id", flat=True)) == [kept.pk]
    assert not FanOut.objects.exists()
    with connections["default"].cursor() as cursor:
        for model in (Checkpoint, FanOut):
            found = connections["default"].introspection.get_constraints(cursor, model._meta.db_table)
            assert not [c for c in found.values() if c["foreign_key"] == (Job._meta.db_table, "id")]


def workflow(parent_status: str = Status.COMPLETED, children: int = 3, **child_fields: Any) -> FanOut:
    """A finished parent with one fan-out of finished children, all finished long ago."""
    old = timezone.now() - 40 * DAY
    child_fields = {"status": Status.COMPLETED, "finished_at": old, **child_fields}
    parent = JobFactory(status=parent_status, finished_at=old if parent_status in TERMINAL else None)
    CheckpointFactory(job=parent)
    fanout = FanOutFactory(parent=parent, state=FanOut.State.SUCCEEDED)
    make_children(fanout, children, **child_fields)
    return fanout


def test_a_workflow_goes_whole_with_its_fanouts_and_checkpoints() -> None:
    fanout = workflow()
    nested = FanOutFactory(parent=fanout.children.first(), state=FanOut.State.SUCCEEDED)
    make_children(nested, 2, status=Status.COMPLETED, finished_at=timezone.now() - 40 * DAY)
    CheckpointFactory(job=nested.children.first())
    pruned = retention.prune()
    assert (pruned.jobs, pruned.checkpoints, pruned.fanouts) == (6, 2, 2)
    assert ids() == set() and not FanOut.objects.exists() and not Checkpoint.objects.exists()


@pytest.mark.parametrize("parent_status", [Status.WAITING, Status.RUNNING, Status.PAUSED, Status.PENDING])
def test_children_of_an_unfinished_parent_stay(parent_status: str) -> None:
    fanout = workflow(parent_status)
    before = ids()
    assert retention.prune().jobs == 0
    assert ids() == before and FanOut.objects.filter(pk=fanout.pk).exists()


def test_a_workflow_stays_while_any_job_in_it_has_not_expired(settings) -> None:
    young = workflow()
    make_children(young, 1, status=Status.COMPLETED, finished_at=timezone.now())  # finished just now
    forever = workflow()  # a failed child, and failed jobs are kept forever:
    make_children(forever, 1, status=Status.FAILED, finished_at=timezone.now() - 900 * DAY)
    deep = workflow()
    nested = FanOutFactory(parent=deep.children.first(), state=FanOut.State.RUNNING)
    make_children(nested, 1, status=Status.RUNNING)  # a grandchild still runs
    settings.DURABLE_JOBS = {"RETENTION": {"failed": None}}
    before = ids()
    assert retention.prune().jobs == 0
    assert ids() == before
    settings.DURABLE_JOBS = {}
    Job.objects.filter(fanout=nested).update(status=Status.COMPLETED, finished_at=timezone.now() - 40 * DAY)
    assert retention.prune().jobs == 5 + 5  # the failed child's and the grandchild's workflows
    assert ids() == {young.parent_id} | set(young.children.values_list("id", flat=True))


def test_the_newest_fire_of_each_schedule_stays_and_is_not_fired_again(isolated_schedules) -> None:
    entry = firing.schedule(demo.noop, every(minutes=1), name="retention.minutely")
    other = firing.schedule(demo.noop, every(minutes=1), name="retention.other")
    start = entry.spec.latest_at_or_before(timezone.now() - 60 * DAY)
    fires = [start + timedelta(minutes=n) for n in range(3)]
    for moment in fires:
        firing.run_due(now=moment)
    assert Job.objects.filter(schedule=entry.name).count() == 3
    Job.objects.update(status=Status.COMPLETED, finished_at=timezone.now() - 40 * DAY)
    finished(schedule=entry.name, scheduled_for=None)  # not a fire: the scheduler never looks for it
    assert retention.prune().jobs == 5  # two fires of each schedule, and that job
    kept = Job.objects.order_by("schedule").values_list("schedule", "scheduled_for")
    assert list(kept) == [(entry.name, fires[-1]), (other.name, fires[-1])]
    assert firing.run_due(now=fires[-1] + timedelta(seconds=30)) == []  # not fired again
    assert len(firing.run_due(now=fires[-1] + timedelta(minutes=1))) == 2  # the next fire, as usual


def test_a_start_still_in_its_rate_window_stays() -> None:
    now = timezone.now()
    in_window = finished(
        age=timedelta(seconds=5), rate_key="api", rate_limit=10, rate_period=3600.0, started_at=now
    )
    out_of_window = finished(
        age=timedelta(seconds=5),
        rate_key="api",
        rate_limit=10,
        rate_period=1.0,
        started_at=now - timedelta(seconds=6),
    )
    assert retention.prune(older_than=timedelta(seconds=1)).jobs == 1
    assert ids() == {in_window.pk}
    assert out_of_window.pk not in ids()


def test_finished_at_missing_falls_back_to_updated_at() -> None:
    job = JobFactory(status=Status.CANCELLED, finished_at=None, updated_at=timezone.now() - 40 * DAY)
    assert retention.prune().jobs == 1 and job.pk not in ids()


def test_statuses_queues_and_older_than_narrow_a_prune(settings) -> None:
    settings.DURABLE_JOBS = {"RETENTION": {"failed": None}}
    failed = finished(Status.FAILED, 2 * DAY)
    completed = finished(Status.COMPLETED, 2 * DAY)
    emails = finished(Status.FAILED, 2 * DAY, queue="emails")
    assert retention.prune(statuses=["failed"], queues=["emails"], older_than=DAY).jobs == 1
    assert ids() == {failed.pk, completed.pk}
    assert emails.pk not in ids()
    assert retention.prune(statuses=["failed"], older_than=3 * DAY).jobs == 0
    assert retention.prune(statuses=["failed", "completed"], older_than=DAY).jobs == 2
    with pytest.raises(ValueError, match="'pending' is not one of completed, failed, cancelled"):
        retention.prune(statuses=["pending"])


# --------------------------------------------------------------------------- batches


def test_batches_hold_at_most_batch_size_jobs() -> None:
    for _ in range(25):
        finished()
    kept = finished(age=DAY)
    seen: list[int] = []
    pruned = retention.prune(batch_size=10, progress=lambda p: seen.append(p.jobs))
    assert (pruned.jobs, pruned.batches) == (25, 3)
    assert seen == [10, 20, 25]
    assert ids() == {kept.pk}
    with pytest.raises(ValueError, match="batch_size: 10001 is outside 1..10000"):
        retention.prune(batch_size=10_001)


def test_a_workflow_larger_than_a_batch_goes_deepest_first_in_several(monkeypatch) -> None:
    fanout = workflow(children=12)
    nested = FanOutFactory(parent=fanout.children.first(), state=FanOut.State.SUCCEEDED)
    make_children(nested, 8, status=Status.COMPLETED, finished_at=timezone.now() - 40 * DAY)
    small = finished()
    sizes: list[int] = []
    real_delete = storage.delete

    def delete(store: Any, rules: Any, job_ids: list[int]) -> Any:
        sizes.append(len(job_ids))
        return real_delete(store, rules, job_ids)

    monkeypatch.setattr(storage, "delete", delete)
    pruned = retention.prune(batch_size=5)
    assert pruned.jobs == 1 + 12 + 8 + 1 and max(sizes) <= 5
    assert ids() == set() and not FanOut.objects.exists() and small.pk not in ids()


def test_a_worker_prune_stops_at_its_budget_and_the_next_goes_on_from_there() -> None:
    kept = finished(age=DAY)
    jobs = [finished() for _ in range(6)]
    first = retention.prune(batch_size=2, budget=0)
    assert (first.jobs, first.more, first.batches, first.resume) == (2, True, 1, jobs[1].pk)
    second = retention.prune(batch_size=2, budget=0, start=first.resume)
    assert (second.jobs, second.more, second.resume) == (2, True, jobs[3].pk)
    finished(pk=jobs[0].pk)  # an id below where it goes on from: not looked at
    last = retention.prune_expired(budget=10, start=second.resume)
    assert (last.jobs, last.more) == (2, False)
    assert retention.prune().jobs == 1 and ids() == {kept.pk}


def test_each_batch_looks_through_a_bounded_span_of_ids(monkeypatch) -> None:
    jobs = [finished(age=DAY if n % 3 else 40 * DAY) for n in range(20)]
    monkeypatch.setattr(retention, "SPAN", 4)
    spans = []
    real_next_roots = storage.next_roots

    def next_roots(store: Any, rules: Any, after: int, upto: int, limit: int) -> Any:
        spans.append(upto - after)
        return real_next_roots(store, rules, after, upto, limit)

    monkeypatch.setattr(storage, "next_roots", next_roots)
    assert retention.prune().jobs == 7
    assert ids() == {job.pk for n, job in enumerate(jobs) if n % 3}
    assert max(spans) <= 4 and len(spans) >= 5


def test_a_job_retried_while_its_batch_is_picked_is_kept(monkeypatch) -> None:
    jobs = [finished(Status.FAILED) for _ in range(3)]
    real_next_roots = storage.next_roots
    calls = []

    def next_roots(*args: Any, **kwargs: Any) -> Any:
        roots = real_next_roots(*args, **kwargs)
        calls.append(roots)
        if len(calls) == 1:  # a person retries the middle one after the pick
            Job.objects.filter(pk=jobs[1].pk).update(status=Status.PENDING, finished_at=None)
        return roots

    monkeypatch.setattr(storage, "next_roots", next_roots)
    assert retention.prune().jobs == 2
    assert ids() == {jobs[1].pk}
    assert len(calls) >= 2  # the first batch was rolled back and picked again


def test_a_dry_run_counts_and_writes_nothing() -> None:
    workflow()
    finished()
    CheckpointFactory(job=finished(Status.CANCELLED))
    finished(age=DAY)
    before = (ids(), FanOut.objects.count(), Checkpoint.objects.count())
    counted = retention.prune(dry_run=True, batch_size=2)
    assert (counted.jobs, counted.checkpoints, counted.fanouts) == (6, 2, 1)
    assert (ids(), FanOut.objects.count(), Checkpoint.objects.count()) == before
    pruned = retention.prune()
    assert (pruned.jobs, pruned.checkpoints, pruned.fanouts) == (6, 2, 1)


# --------------------------------------------------------------------------- the command


def test_the_command_prints_totals() -> None:
    workflow()
    finished(Status.FAILED)
    finished(age=DAY)
    assert run("--dry-run") == "would delete 5 jobs, 1 checkpoints, 1 fan-outs\n"
    assert run("--status", "failed") == "deleted 1 jobs, 0 checkpoints, 0 fan-outs\n"
    assert run("--queue", "emails") == "deleted 0 jobs, 0 checkpoints, 0 fan-outs\n"
    assert run() == "deleted 4 jobs, 1 checkpoints, 1 fan-outs\n"
    assert (
        run("--older-than", "12h", "--status", "completed") == "deleted 1 jobs, 0 checkpoints, 0 fan-outs\n"
    )
    assert ids() == set()


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def test_the_command_draws_a_progress_bar_on_a_terminal(monkeypatch) -> None:
    for _ in range(5):
        finished()
    monkeypatch.setattr(retention, "prune", functools.partial(retention.prune, batch_size=2))
    out = run(stdout=Terminal())
    assert "\r[############..................] 2/5 jobs" in out
    assert "\r[##############################] 5/5 jobs\n" in out
    assert out.endswith("deleted 5 jobs, 0 checkpoints, 0 fan-outs\n")
    assert "\r" not in run()  # not a terminal: totals only


@pytest.mark.parametrize(
    "argv, error",
    [
        (["--older-than", "7 days"], "--older-than: '7 days' is not a duration like 30s, 30m, 2h or 1d"),
        (["--older-than", "0d"], "--older-than: '0d' is not a positive duration"),
        (["--status", "pending"], "--status: 'pending' is not one of completed, failed, cancelled"),
        (
            ["--status", "completed", "--status", "done"],
            "--status: 'done' is not one of completed, failed, cancelled",
        ),
        (["--queue", "a:b"], "--queue: 'a:b' may not contain ':' or ',' or surrounding spaces"),
    ],
)
def test_the_command_refuses_bad_values_on_one_line_with_status_2(argv: list[str], error: str) -> None:
    finished()
    with pytest.raises(CommandError) as caught:
        run(*argv)
    assert (caught.value.returncode, str(caught.value)) == (2, error)
    assert len(ids()) == 1


def test_a_real_command_line(worker_env) -> None:
    from ..conftest import MANAGE

    finished()

    def manage(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(MANAGE), "durablejobs", "prune", *argv],
            env=worker_env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    bad = manage("--status", "nope")
    assert (bad.returncode, bad.stdout) == (2, "")
    assert bad.stderr.strip() == "CommandError: --status: 'nope' is not one of completed, failed, cancelled"
    good = manage()
    assert (good.returncode, good.stdout, good.stderr) == (
        0,
        "deleted 1 jobs, 0 checkpoints, 0 fan-outs\n",
        "",
    )
    assert ids() == set()


# --------------------------------------------------------------------------- one pruner at a time


def hold_the_lock(release: threading.Event, held: threading.Event) -> None:
    try:
        with transaction.atomic(using=jobs_settings.DATABASE):
            assert storage.take_lock(engine(), wait=False)
            held.set()
            release.wait(30)
    finally:
        connections.close_all()


@pytest.mark.postgres_only
def test_a_worker_does_not_prune_while_another_holds_the_lock() -> None:
    job = finished()
    release, held = threading.Event(), threading.Event()
    holder = threading.Thread(target=hold_the_lock, args=(release, held))
    holder.start()
    try:
        assert held.wait(10)
        busy = retention.prune_expired()
        assert (busy.busy, busy.jobs) == (True, 0) and job.pk in ids()
        # The command waits for the lock instead, and prunes once it is free.
        waited: list[retention.Pruned] = []
        command = threading.Thread(target=lambda: waited.append(retention.prune()) or connections.close_all())
        command.start()
        time.sleep(0.5)
        assert not waited and job.pk in ids()
    finally:
        release.set()
        holder.join(10)
    command.join(10)
    assert waited[0].jobs == 1 and ids() == set()


@pytest.mark.postgres_only
def test_two_pruners_never_delete_at_once(monkeypatch) -> None:
    for _ in range(60):
        finished()
    inside, most, lock = [0], [0], threading.Lock()
    real_delete = storage.delete

    def delete(*args: Any) -> Any:
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.02)  # a slow batch: the other pruner has every chance to overlap
        try:
            return real_delete(*args)
        finally:
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(storage, "delete", delete)
    results: list[retention.Pruned] = []

    def pruner() -> None:
        try:
            while True:
                pruned = retention.prune(wait=False, batch_size=5)
                results.append(pruned)
                if not pruned.busy and not pruned.more:
                    return
                time.sleep(0.005)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=pruner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert most[0] == 1 and any(r.busy for r in results)  # they met, and one waited its turn
    assert sum(r.jobs for r in results) == 60 and ids() == set()
