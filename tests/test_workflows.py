"""Fan-out/fan-in and the scheduler with real worker processes (SPEC §5, §6)."""

from __future__ import annotations

import time

import pytest
from demo import jobs as demo
from django.db.models import Count

from django_durable_jobs.models import FanOut, Job, Status

from .conftest import wait_for

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
    time.sleep(10)
    first.terminate()
    second.terminate()
    fires = list(
        Job.objects.filter(name="demo.tick").order_by("scheduled_for").values_list("scheduled_for", flat=True)
    )
    assert 8 <= len(fires) <= 12, fires
    assert len(set(fires)) == len(fires), "one job per fire time"
    gaps = {(b - a).total_seconds() for a, b in zip(fires, fires[1:], strict=False)}
    assert gaps == {1.0}, gaps
