"""Defining and enqueuing jobs (SPEC §2): validation, options, transactions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from demo import jobs as demo
from django.db import transaction
from django.utils import timezone

from django_durable_jobs import UnknownJob, enqueue
from django_durable_jobs.models import Job, Status

from ..factories import JobFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_enqueue_stores_a_pending_job() -> None:
    j = demo.add.enqueue(1, b=2)
    row = Job.objects.get(pk=j.pk)
    assert (row.name, row.queue, row.status, row.args, row.kwargs) == (
        "demo.add",
        "default",
        Status.PENDING,
        [1],
        {"b": 2},
    )


def test_using_sets_options() -> None:
    before = timezone.now()
    j = demo.add.using(queue="critical", priority=50, run_after=timedelta(seconds=30), retries=2).enqueue(
        1, 2
    )
    assert (j.queue, j.priority, j.max_retries) == ("critical", 50, 2)
    assert j.run_after >= before + timedelta(seconds=30)


def test_enqueue_by_name_and_unknown_name() -> None:
    assert enqueue("demo.add", 1, 2).name == "demo.add"
    with pytest.raises(UnknownJob, match="no-such-job"):
        enqueue("no-such-job", 1)
    assert Job.objects.count() == 1


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "names"),
    [
        ((object(), 1), {}, TypeError, "'a'"),
        ((1,), {"b": {1, 2}}, TypeError, "'b'"),
        ((float("nan"), 1), {}, ValueError, "'a'"),
        ((1, 2, 3), {}, TypeError, "bad arguments"),
    ],
)
def test_bad_arguments_are_refused_and_nothing_is_written(args, kwargs, error, names) -> None:
    with pytest.raises(error, match=names):
        demo.add.enqueue(*args, **kwargs)
    assert Job.objects.count() == 0


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="retries"):
        demo.add.using(retries=-1).enqueue(1, 2)
    with pytest.raises(ValueError, match="naive"):
        demo.add.using(run_after=timezone.now().replace(tzinfo=None)).enqueue(1, 2)
    with pytest.raises(ValueError, match="queue: "):
        demo.add.using(queue="bad:name").enqueue(1, 2)
    assert Job.objects.count() == 0


def test_unique_key_returns_the_unfinished_job() -> None:
    first = demo.add.using(unique_key="welcome:42").enqueue(1, 2)
    second = demo.add.using(unique_key="welcome:42").enqueue(3, 4)
    assert first.pk == second.pk
    assert Job.objects.count() == 1


@pytest.mark.parametrize("status", [Status.RUNNING, Status.WAITING, Status.PAUSED])
def test_an_unfinished_job_in_any_status_holds_its_unique_key(status) -> None:
    holder = JobFactory(name="demo.add", args=[1, 2], unique_key="welcome:42", status=status)
    assert demo.add.using(unique_key="welcome:42").enqueue(3, 4).pk == holder.pk
    assert Job.objects.count() == 1


@pytest.mark.parametrize("status", [Status.COMPLETED, Status.FAILED, Status.CANCELLED])
def test_a_finished_job_lets_its_unique_key_go(status) -> None:
    finished = JobFactory(name="demo.add", args=[1, 2], unique_key="welcome:42", status=status)
    again = demo.add.using(unique_key="welcome:42").enqueue(5, 6)
    assert again.pk != finished.pk and again.status == Status.PENDING


def test_rolled_back_transaction_leaves_no_job() -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        demo.add.enqueue(1, 2)
        raise RuntimeError("roll back")
    assert Job.objects.count() == 0


def test_enqueue_many_is_one_bulk_insert(django_assert_max_num_queries, is_postgres) -> None:
    # SQLite caps a statement at 999 parameters, so Django splits the insert there.
    from django.db import connection

    columns = len(Job._meta.concrete_fields) - 1  # all but the id
    statements = 4 if is_postgres else -(-500 * columns // connection.features.max_query_params) + 2
    with django_assert_max_num_queries(statements):
        jobs = demo.add.enqueue_many([((i,), {"b": i}) for i in range(500)])
    assert len(jobs) == 500 and all(j.pk for j in jobs)
    assert Job.objects.count() == 500


def test_enqueue_many_validates_every_item() -> None:
    with pytest.raises(TypeError, match="item 1"):
        demo.add.enqueue_many([((1, 2), {}), (1, 2)])
    with pytest.raises(TypeError, match="'b'"):
        demo.add.enqueue_many([((1, 2), {}), ((1, object()), {})])
    assert Job.objects.count() == 0


@pytest.mark.parametrize("bad", [(1, 2), ((1, object()), {})], ids=["shape", "argument"])
def test_a_bad_item_late_in_a_big_batch_writes_nothing_and_spares_the_callers_transaction(bad) -> None:
    """On PostgreSQL the rows stream to COPY as they are built: the bad item comes after 300 written ones."""
    with transaction.atomic():
        before = demo.add.enqueue(0, 0)
        with pytest.raises(TypeError, match="item 300" if bad == (1, 2) else "'b'"):
            demo.add.enqueue_many([((i, i), {}) for i in range(300)] + [bad])
        after = demo.add.enqueue(1, 1)
    assert sorted(Job.objects.values_list("id", flat=True)) == [before.pk, after.pk]


def test_aenqueue() -> None:
    import asyncio

    from django_durable_jobs import aenqueue

    j = asyncio.run(aenqueue("demo.add", 1, 2))
    assert Job.objects.get(pk=j.pk).args == [1, 2]


def test_job_enqueued_signal_is_sent_after_commit() -> None:
    from django_durable_jobs.signals import job_enqueued

    seen = []

    def receiver(job, **kwargs):
        seen.append(job.pk)

    job_enqueued.connect(receiver)
    try:
        with transaction.atomic():
            j = demo.add.enqueue(1, 2)
            assert seen == []
        assert seen == [j.pk]
    finally:
        job_enqueued.disconnect(receiver)


def test_enqueue_many_of_identical_calls_makes_one_row_each() -> None:
    jobs = demo.noop.enqueue_many([((), {})] * 3)
    assert len({j.pk for j in jobs}) == 3
    assert list(Job.objects.order_by("id").values_list("id", flat=True)) == [j.pk for j in jobs]


@pytest.mark.postgres_only
@pytest.mark.parametrize("many", [False, True])
def test_workers_are_notified_on_commit_only(many, other_session) -> None:
    from django_durable_jobs.storage.postgres import WORK_CHANNEL

    listener = other_session
    listener.execute(f"LISTEN {WORK_CHANNEL}")

    def enqueue() -> None:
        if many:
            demo.add.using(queue="notified").enqueue_many([((1, 2), {}), ((3, 4), {})])
        else:
            demo.add.using(queue="notified").enqueue(1, 2)

    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue()
        raise RuntimeError("roll back")
    assert [n.payload for n in listener.notifies(timeout=0.5)] == []
    enqueue()
    assert [n.payload for n in listener.notifies(timeout=2, stop_after=1)] == ["notified"]


def test_the_postgres_bulk_insert_writes_every_column_a_new_job_can_have() -> None:
    """A column added to Job must be added to the hand-written insert too, or PostgreSQL drops it."""
    from django_durable_jobs.storage.postgres_inserts import INSERT_COLUMNS

    constants = {"id", "updated_at", "status", "attempt", "reclaims", "snoozes", "last_error", "paused_by"}
    constants |= {"pause_reason", "pause_mode", "progress_message", "held"}
    empty_when_new = {"result", "lease", "lease_expires_at", "worker_id", "pause_requested", "paused_at"}
    empty_when_new |= {"started_at", "finished_at", "progress_done", "progress_total"}
    empty_when_new |= {"progress_at"}
    inserted = {column for column, _, _ in INSERT_COLUMNS}
    assert inserted | constants | empty_when_new == {f.attname for f in Job._meta.concrete_fields}


def test_a_bulk_enqueue_keeps_every_value_as_given() -> None:
    """Big enough for PostgreSQL's COPY path, whose text format escapes by hand."""
    odd = 'tab\there, line\nbreak, back\\slash, \\N, carriage\rreturn, é ☃ \U0001f600, quote"'
    calls = [((odd, i), {}) for i in range(150)] + [((i, {"k": odd}), {}) for i in range(150)]
    jobs = demo.record.enqueue_many([((f"{odd}{i}",), {}) for i in range(10)])
    jobs += demo.ship.enqueue_many([(([odd, i, {"x": odd}],), {}) for i in range(250)])
    jobs += demo.noop_per_key.enqueue_many([((), {"key": f"{odd}{i}"}) for i in range(250)])
    later = timezone.now() + timedelta(hours=1)
    jobs += demo.add.using(run_after=later, priority=-3, queue="q\\1").enqueue_many(calls)
    rows = {row.pk: row for row in Job.objects.all()}
    assert len(rows) == len(jobs) == 810
    for job in jobs:
        row = rows[job.pk]
        assert (row.name, row.queue, row.priority, row.args, row.kwargs) == (
            job.name,
            job.queue,
            job.priority,
            job.args,
            job.kwargs,
        )
        assert (row.run_after, row.delayed, row.status, row.held) == (
            job.run_after,
            job.delayed,
            "pending",
            False,
        )
        assert (row.concurrency_key, row.concurrency_limit) == (job.concurrency_key, job.concurrency_limit)
    assert rows[jobs[-1].pk].delayed and rows[jobs[-1].pk].queue == "q\\1"
    assert rows[jobs[260].pk].concurrency_key == f"demo.noop_per_key|{odd}0"


def test_one_enqueue_keeps_every_value_as_given() -> None:
    """On PostgreSQL through the enqueue function, whose parameters follow the columns by position."""
    odd = 'tab\there, line\nbreak, back\\slash, \\N, quote\' and "double", é ☃ \U0001f600'
    later = timezone.now() + timedelta(hours=1)
    jobs = [
        demo.add.using(run_after=later, priority=-3, queue="q\\1", retries=7, timeout=12.5).enqueue(
            odd, b=[odd]
        ),
        demo.noop_per_key.using(unique_key=odd).enqueue(key=odd),
        demo.rated_per_tenant.enqueue(tenant=odd),
    ]
    fields = [f.attname for f in Job._meta.concrete_fields if f.attname not in ("updated_at",)]
    for job in jobs:
        row = Job.objects.get(pk=job.pk)
        assert {f: getattr(row, f) for f in fields} == {f: getattr(job, f) for f in fields}
    assert jobs[0].delayed and jobs[0].timeout == 12.5 and jobs[0].max_retries == 7
    assert jobs[1].concurrency_key == f"demo.noop_per_key|{odd}" and jobs[1].unique_key == odd
    assert jobs[2].rate_key is not None and jobs[2].rate_limit == 2


@pytest.mark.postgres_only
def test_one_enqueue_is_one_call_of_the_enqueue_function(django_assert_num_queries) -> None:
    from django.db import connection

    from django_durable_jobs.storage import engine
    from django_durable_jobs.storage.postgres_inserts import ENQUEUE

    assert engine(connection.alias).enqueues_by_function  # asked once per process: not counted below
    with django_assert_num_queries(1) as captured:
        job = demo.add.enqueue(1, 2)
    assert captured.captured_queries[0]["sql"].startswith(f"SELECT {ENQUEUE}(")
    assert Job.objects.get(pk=job.pk).args == [1, 2]


@pytest.mark.postgres_only
def test_until_its_migration_has_run_one_enqueue_is_a_plain_insert(without_function) -> None:
    """Code deployed before ``migrate`` must still enqueue, without the enqueue function."""
    from django_durable_jobs.storage.postgres_inserts import ENQUEUE_SIGNATURE

    with without_function(ENQUEUE_SIGNATURE, "enqueue_function", "enqueues_by_function") as store:
        job = demo.add.using(queue="plain").enqueue(3, b=4)
        assert store.enqueues_by_function is False
        row = Job.objects.get(pk=job.pk)
        assert (row.queue, row.args, row.kwargs, row.status) == ("plain", [3], {"b": 4}, "pending")
