"""Fan-outs in the database: how a decided fan-out treats the rest of its children."""

from __future__ import annotations

import pytest
from django.db import transaction

from django_durable_jobs.conf import jobs_settings
from django_durable_jobs.models import FanOut, Job, Status
from django_durable_jobs.state import fanouts
from django_durable_jobs.strategies import Threshold

from ..factories import FanOutFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("cancel", [True, False])
def test_cancel_on_parent_failure_decides_the_fate_of_the_rest(cancel) -> None:
    fanout = FanOutFactory(
        parent__name="demo.fan_parent",
        parent__args=[[], "threshold"],
        strategy=Threshold(0.8).to_json(),
        cancel_on_parent_failure=cancel,
        children=5,
        children__name="demo.square",
    )
    with transaction.atomic():  # as in the worker's writer
        fanouts.children_finished(jobs_settings.DATABASE, fanout.pk, failed=2)  # 3 of 5 < 80 %: decided
    fanout.refresh_from_db()
    assert fanout.state == FanOut.State.FAILED
    statuses = set(Job.objects.filter(fanout=fanout).values_list("status", flat=True))
    assert statuses == ({Status.CANCELLED} if cancel else {Status.PENDING})
    assert Job.objects.get(pk=fanout.parent_id).status == Status.PENDING
