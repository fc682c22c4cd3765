"""Fan-out/fan-in and the scheduler with real worker processes (SPEC §5, §6)."""

from __future__ import annotations

import time

import pytest
from demo import jobs as demo
from django.db.models import Count
from django.utils import timezone

from django_durable_jobs.models import FanOut, Job, Status, Worker

from ..conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def finished(job_id: int) -> Job:
    return wait_for(
        lambda: (j := Job.objects.get(pk=job_id)).status in (Status.COMPLETED, Status.FAILED) and j,
        timeout=120,
    )


def test_thousand_child_fan_out_resumes_parent_exactly_once(run_worker) -> None:
    parent = demo.sum_squares.enqueue(1000)
    worker = run_worker("--concurrency", "8")
    done = finished(parent.pk)
    worker.terminate()
    assert done.status == Status.COMPLETED
    assert done.result == sum(i * i for i in range(1000))
    fanout = FanOut.objects.get(parent=parent)
    assert (fanout.state, fanout.total, fanout.succeeded) == ("succeeded", 1000, 1000)
    # Started twice in all: the first run that fanned out, and one resume.
    assert done.attempt == 1 and done.started_at >= fanout.resolved_at


def test_fail_fast_cancels_siblings_and_fails_parent(run_worker) -> None:
    fails = [False] * 20
    fails[0] = True
    parent = demo.fan_parent.enqueue(fails, "fail_fast", seconds=0.3)
    worker = run_worker("--concurrency", "2")
    done = finished(parent.pk)
    worker.terminate()
    assert done.status == Status.FAILED
    assert "FanOutFailed" in done.last_error or "fan-out 0" in done.last_error
    children = dict(Job.objects.filter(fanout__parent=parent).values_list("status").annotate(n=Count("id")))
    assert children.get(Status.FAILED) == 1
    assert children.get(Status.CANCELLED, 0) > 0, children
    assert FanOut.objects.get(parent=parent).state == "failed"


def test_collect_all_returns_partial_results(run_worker) -> None:
    parent = demo.fan_parent.enqueue([False, True, False, True, False], "collect_all")
    worker = run_worker()
    done = finished(parent.pk)
    worker.terminate()
    assert done.status == Status.COMPLETED
    assert done.result == {"values": [0, 2, 4], "failed": 2, "all": False}


def test_threshold_passes_and_fails(run_worker) -> None:
    passing = demo.fan_parent.enqueue([False] * 9 + [True], "threshold", ratio=0.8)
    failing = demo.fan_parent.enqueue([False] * 5 + [True] * 5, "threshold", ratio=0.8)
    worker = run_worker()
    ok, bad = finished(passing.pk), finished(failing.pk)
    worker.terminate()
    assert ok.status == Status.COMPLETED and ok.result["values"] == list(range(9))
    assert bad.status == Status.FAILED and "children succeeded" in bad.last_error


def test_two_schedulers_fire_an_every_second_schedule_once_per_second(run_worker) -> None:
    env = {"DJJ_DEMO_TICK": "1"}
    first = run_worker("--scheduler", env=env)
    second = run_worker("--scheduler", env=env)
    # Ten seconds from the moment both run: a busy machine may take seconds to start them.
    wait_for(lambda: Worker.objects.count() == 2, timeout=60)
    start = timezone.now()
    time.sleep(10)
    end = timezone.now()
    first.terminate()
    second.terminate()
    fires = list(
        Job.objects.filter(name="demo.tick").order_by("scheduled_for").values_list("scheduled_for", flat=True)
    )
    in_window = [fire for fire in fires if start <= fire <= end]
    assert 8 <= len(in_window) <= (end - start).total_seconds() + 1, (start, end, fires)
    assert len(set(fires)) == len(fires), "one job per fire time"
    gaps = {(b - a).total_seconds() for a, b in zip(fires, fires[1:], strict=False)}
    assert gaps == {1.0}, gaps


def test_two_schedules_of_one_job_both_fire(run_worker) -> None:
    worker = run_worker("--scheduler", env={"DJJ_DEMO_TICK": "2"})
    wait_for(Worker.objects.exists, timeout=60)  # a busy machine may take seconds to start it
    start = timezone.now()
    time.sleep(7)
    end = timezone.now()
    worker.terminate()
    fires: dict[str, list] = {}
    for name, at in (
        Job.objects.filter(name="demo.tick")
        .order_by("scheduled_for")
        .values_list("schedule", "scheduled_for")
    ):
        fires.setdefault(name, []).append(at)
    assert set(fires) == {"demo.tick", "demo.tick-every-2s"}, fires
    seconds = (end - start).total_seconds()
    every_second = [at for at in fires["demo.tick"] if start <= at <= end]
    every_2s = [at for at in fires["demo.tick-every-2s"] if start <= at <= end]
    assert 5 <= len(every_second) <= seconds + 1 and 2 <= len(every_2s) <= seconds / 2 + 1, fires
    for name, times in fires.items():  # neither swallowed the other's fires, none fired twice
        assert len(times) == len(set(times)), (name, times)


def test_nested_fan_outs(run_worker) -> None:
    parent = demo.nested.enqueue(3, 10)
    worker = run_worker("--concurrency", "4")
    done = finished(parent.pk)
    worker.terminate()
    assert done.status == Status.COMPLETED
    assert done.result == 3 * sum(i * i for i in range(10))
    assert FanOut.objects.filter(state="succeeded").count() == 4


def test_fan_out_timeout_fails_it_and_cancels_children(run_worker) -> None:
    parent = demo.fan_timeout.enqueue(30.0, 1.0)
    worker = run_worker("--concurrency", "4")
    done = finished(parent.pk)
    worker.terminate()
    assert done.status == Status.COMPLETED and done.result.startswith("timed out")
    children = set(Job.objects.filter(fanout__parent=parent).values_list("status", flat=True))
    assert children == {Status.CANCELLED}


def test_changed_workflow_code_is_refused_not_replayed_wrongly(run_worker) -> None:
    flow = demo.changing_workflow.using(retries=1).enqueue()
    worker = run_worker()
    done = finished(flow.pk)
    worker.terminate()
    assert done.status == Status.FAILED
    assert "CheckpointMismatch" in done.last_error and "demo.charge" in done.last_error


def test_cancelling_a_waiting_parent_cancels_its_children(run_worker) -> None:
    from django_durable_jobs import cancel_job

    parent = demo.fan_parent.enqueue([False] * 4, "collect_all", seconds=30.0)
    worker = run_worker("--concurrency", "2")
    wait_for(lambda: Job.objects.get(pk=parent.pk).status == Status.WAITING)
    wait_for(lambda: Job.objects.filter(fanout__parent=parent, status=Status.RUNNING).count() >= 2)
    cancel_job(parent.pk, by="alice")
    children = Job.objects.filter(fanout__parent=parent)
    assert set(children.values_list("status", flat=True)) == {Status.CANCELLED}, list(
        children.values_list("id", "status", "name", "args", "kwargs", "result")
    )
    time.sleep(1.0)
    assert not Job.objects.filter(status=Status.RUNNING).exists()
    worker.terminate()
