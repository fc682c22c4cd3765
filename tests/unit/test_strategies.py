"""Fan-out strategies (django_durable_jobs.strategies): pure decisions over child counts."""

from __future__ import annotations

import itertools
import json

import pytest

from django_durable_jobs import CollectAll, FailFast, Threshold
from django_durable_jobs.strategies import from_json

# decide(total, succeeded, failed, cancelled)


@pytest.mark.parametrize(
    ("counts", "decision"),
    [
        ((3, 0, 0, 0), None),
        ((3, 2, 0, 0), None),
        ((3, 3, 0, 0), "succeeded"),
        ((3, 0, 1, 0), "failed"),  # the first failure decides, siblings still running
        ((3, 2, 1, 0), "failed"),
        ((3, 1, 0, 1), "failed"),  # a cancelled child is a failure too
        ((0, 0, 0, 0), "succeeded"),
    ],
)
def test_fail_fast(counts, decision):
    assert FailFast().decide(*counts) == decision


@pytest.mark.parametrize(
    ("counts", "decision"),
    [
        ((3, 0, 0, 0), None),
        ((3, 1, 1, 0), None),  # a failure does not decide: every child is awaited
        ((3, 3, 0, 0), "succeeded"),
        ((3, 0, 3, 0), "succeeded"),  # all finished: the parent gets what each did
        ((3, 1, 1, 1), "succeeded"),
        ((0, 0, 0, 0), "succeeded"),
    ],
)
def test_collect_all(counts, decision):
    assert CollectAll().decide(*counts) == decision


@pytest.mark.parametrize(
    ("ratio", "counts", "decision"),
    [
        (0.8, (10, 0, 0, 0), None),
        (0.8, (10, 8, 2, 0), "succeeded"),
        (0.8, (10, 10, 0, 0), "succeeded"),
        (0.8, (10, 9, 1, 0), "succeeded"),
        (0.8, (10, 7, 3, 0), "failed"),
        (0.8, (10, 0, 3, 0), "failed"),  # 7 at most can still succeed: decided at once
        (0.8, (10, 0, 2, 1), "failed"),  # cancelled children count against it
        (0.8, (10, 0, 2, 0), None),  # 8 can still succeed
        (0.8, (10, 8, 1, 0), None),  # certain to pass, but the last child is awaited
        (1, (4, 3, 0, 0), None),
        (1, (4, 3, 1, 0), "failed"),
        (1, (4, 4, 0, 0), "succeeded"),
        (0.5, (3, 2, 0, 0), None),
        (0.5, (3, 1, 2, 0), "failed"),  # 1 of 3 < 1.5
        (0.5, (3, 2, 1, 0), "succeeded"),
        (0.01, (100, 1, 99, 0), "succeeded"),
        (0.01, (100, 0, 100, 0), "failed"),
    ],
)
def test_threshold(ratio, counts, decision):
    assert Threshold(ratio).decide(*counts) == decision


@pytest.mark.parametrize("strategy", [FailFast(), CollectAll(), Threshold(0.6)], ids=repr)
def test_every_decision_is_final_and_every_fan_out_is_decided(strategy):
    """Over every reachable count: a decision never changes as more children finish,
    and a fan-out whose children all finished is decided."""
    total = 5
    for succeeded, failed, cancelled in itertools.product(range(total + 1), repeat=3):
        if succeeded + failed + cancelled > total:
            continue
        decision = strategy.decide(total, succeeded, failed, cancelled)
        if succeeded + failed + cancelled == total:
            assert decision is not None
        if decision is None:
            continue
        for more in ((1, 0, 0), (0, 1, 0), (0, 0, 1)):
            later = (succeeded + more[0], failed + more[1], cancelled + more[2])
            if sum(later) <= total:
                assert strategy.decide(total, *later) == decision, (succeeded, failed, cancelled)


def test_threshold_fails_exactly_when_too_few_can_still_succeed():
    strategy = Threshold(0.6)
    for succeeded, failed in itertools.product(range(6), repeat=2):
        if succeeded + failed > 5:
            continue
        remaining = 5 - succeeded - failed
        decision = strategy.decide(5, succeeded, failed, 0)
        assert (decision == "failed") is (succeeded + remaining < 3)


@pytest.mark.parametrize(
    ("strategy", "data"),
    [
        (FailFast(), {"kind": "fail_fast"}),
        (CollectAll(), {"kind": "collect_all"}),
        (Threshold(0.8), {"kind": "threshold", "ratio": 0.8}),
        (Threshold(1), {"kind": "threshold", "ratio": 1}),
    ],
    ids=repr,
)
def test_to_json_and_from_json_round_trip(strategy, data):
    assert strategy.to_json() == data
    stored = json.loads(json.dumps(strategy.to_json()))  # as FanOut.strategy keeps it
    assert from_json(stored) == strategy


@pytest.mark.parametrize(
    "data", [{}, {"kind": "first_wins"}, {"kind": None}, {"kind": "FailFast"}, {"ratio": 0.5}]
)
def test_from_json_refuses_unknown_strategies(data):
    with pytest.raises(ValueError, match="unknown fan-out strategy"):
        from_json(data)


@pytest.mark.parametrize(
    ("ratio", "error"),
    [
        (0, ValueError),
        (0.0, ValueError),
        (-0.5, ValueError),
        (1.01, ValueError),
        (2, ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        ("0.5", TypeError),
        (None, TypeError),
        (True, TypeError),
        ([0.5], TypeError),
    ],
)
def test_bad_thresholds_are_refused(ratio, error):
    with pytest.raises(error, match="Threshold ratio"):
        Threshold(ratio)
    with pytest.raises(error, match="Threshold ratio"):
        from_json({"kind": "threshold", "ratio": ratio})


def test_strategies_are_frozen_values():
    assert Threshold(0.5) == Threshold(0.5) != Threshold(0.6)
    with pytest.raises(AttributeError):
        Threshold(0.5).ratio = 0.1  # type: ignore[misc]
