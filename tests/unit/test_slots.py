"""Slots: an outcome in the writer's hands keeps its slot (and lease), but not for claiming."""

from __future__ import annotations

import threading

from django.test import override_settings

from django_durable_jobs.context import JobContext
from django_durable_jobs.worker.execution import Execution, Pool
from django_durable_jobs.worker.slots import Slots


def execution(job_id: int, pool: Pool) -> Execution:
    ctx = JobContext(
        id=job_id,
        name="demo.add",
        queue="default",
        attempt=1,
        max_retries=0,
        lease=f"lease-{job_id}",
        args=[],
        kwargs={},
        fanout_id=None,
        snoozes=0,
        timeout=None,
        trace_context=None,
    )
    return Execution(ctx, pool, "worker")


def test_outcomes_handed_to_the_writer_free_their_slots_for_the_next_claim_only() -> None:
    pool, wake = Pool(None, 2), threading.Event()
    slots = Slots([pool], wake)
    held = [execution(i, pool) for i in range(1, 4)]
    for one in held:
        slots.add(one)
    assert (pool.outstanding, slots.in_hand(pool), slots.all_full()) == (3, 3, True)
    wake.clear()
    slots.delivered(held[0])
    slots.delivered(held[1])
    assert wake.is_set(), "the claimer may claim again"
    assert (pool.outstanding, slots.in_hand(pool), slots.all_full()) == (3, 1, False)
    assert set(slots.owned()) == {1, 2, 3}, "their leases are still renewed until they commit"
    with override_settings(DURABLE_JOBS={"COMMIT_BATCH": 1}):
        assert slots.in_hand(pool) == 2, "at most COMMIT_BATCH of them are not counted"
    slots.settle(held[0])  # committed
    assert (pool.outstanding, slots.in_hand(pool)) == (2, 1)


def test_settling_wakes_the_claimer_only_when_it_frees_a_slot_for_claiming() -> None:
    pool, wake = Pool(None, 1), threading.Event()
    slots = Slots([pool], wake)
    committed, withdrawn = execution(1, pool), execution(2, pool)
    slots.add(committed)
    slots.add(withdrawn)
    slots.delivered(committed)
    wake.clear()
    slots.settle(committed)
    assert not wake.is_set(), "its delivery freed the slot for claiming (and woke the claimer) already"
    assert (pool.outstanding, pool.committing, slots.in_hand(pool)) == (1, 0, 1)
    slots.settle(withdrawn)  # ended without handing over an outcome
    assert wake.is_set()
    assert (pool.outstanding, pool.committing, slots.in_hand(pool)) == (0, 0, 0)
