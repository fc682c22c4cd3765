"""Schedule policies with a real ``runjobs --scheduler`` across downtime and a paused queue (issue 13)."""

from __future__ import annotations

import time

import pytest

from django_durable_jobs import pause_queue
from django_durable_jobs.models import Job, Schedule

from ..conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

ENV = {"DJJ_DEMO_POLICIES": "1"}


def fired(name: str) -> list:
    return list(
        Job.objects.filter(schedule=name).order_by("scheduled_for").values_list("scheduled_for", flat=True)
    )


def test_catch_up_policies_across_a_downtime_and_while_paused_policies(run_worker) -> None:
    pause_queue("policy", by="test")  # the while-paused schedules' queue; no worker serves either
    first = run_worker("--scheduler", "--queue", "other", env=ENV)
    catch_up = Schedule.objects.filter(name__startswith="catch-up")
    wait_for(lambda: catch_up.filter(last_fire_at__isnull=False).count() == 3, timeout=60)
    time.sleep(1.5)
    first.terminate()
    down = max(catch_up.values_list("last_fire_at", flat=True))
    time.sleep(4)  # downtime: about four fires missed

    def after_downtime(name: str) -> list:
        return [t for t in fired(name) if t > down]

    second = run_worker("--scheduler", "--queue", "other", env=ENV)
    wait_for(  # caught up, then on time
        lambda: (
            len(after_downtime("catch-up-latest")) >= 2
            and after_downtime("catch-up-skip")
            and len(after_downtime("catch-up-all")) >= 5
        ),
        timeout=60,
    )
    second.terminate()

    gap = [t for t in after_downtime("catch-up-all")]
    assert len(gap) >= 4, gap  # every missed second, then on time again
    assert all((b - a).total_seconds() == 1.0 for a, b in zip(gap, gap[1:], strict=False)), gap
    latest = after_downtime("catch-up-latest")
    # One fire for the latest missed time only, then on time: the earlier missed ones are gone.
    assert len(latest) < len(gap) and (latest[0] - gap[0]).total_seconds() >= 3, (latest, gap)
    skip = after_downtime("catch-up-skip")
    assert skip and (skip[0] - down).total_seconds() >= 4, "missed fires skipped, the first on time"
    # The queue was paused throughout: while_paused decides.
    assert fired("while-paused-skip") == []
    assert len(fired("while-paused-coalesce")) == 1
    assert len(fired("while-paused-queue")) >= 3
