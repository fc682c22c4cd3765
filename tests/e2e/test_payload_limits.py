"""Results and errors over their limits are stored cut, with a marker, by a real worker (issue 11).

The handler runs once in every case: a value the database could not store
never makes a job run again.
"""

from __future__ import annotations

import json

import pytest
from demo import jobs as demo

from django_durable_jobs.models import Job, Status
from django_durable_jobs.worker.outcomes import TRUNCATED

pytestmark = [pytest.mark.django_db(transaction=True)]

LIMITS = json.dumps({"MAX_RESULT_BYTES": 10_000, "MAX_ERROR_CHARS": 2_000, "MAX_NESTING": 20})


def test_oversized_results_and_errors_are_kept_cut_and_the_job_runs_once(run_worker) -> None:
    big = demo.big_result.enqueue(50_000)
    deep = demo.deep_result.enqueue(30)
    fine = demo.echo.enqueue({"a": [1, {"b": None}], "é": "ü"})
    long = demo.long_error.enqueue(50_000)
    nul = demo.nul_result.enqueue()
    worker = run_worker("--burst", env={"DJJ_EXTRA_SETTINGS": LIMITS})
    assert worker.wait(timeout=60) == 0, worker.output()
    big, deep, fine, long, nul = (Job.objects.get(pk=j.pk) for j in (big, deep, fine, long, nul))

    assert (big.status, big.attempt) == (Status.COMPLETED, 1)
    assert big.result[TRUNCATED].startswith(
        "the result was 50,002 bytes of JSON, over MAX_RESULT_BYTES (10,000)"
    )
    assert big.result["preview"] == '"' + "x" * 999

    assert (deep.status, deep.attempt) == (Status.COMPLETED, 1)
    assert deep.result == {
        TRUNCATED: "the result was nested more than 20 levels deep (MAX_NESTING) and was not kept"
    }

    assert (fine.status, fine.result) == (Status.COMPLETED, {"a": [1, {"b": None}], "é": "ü"})

    assert (long.status, long.attempt) == (Status.FAILED, 1)
    assert len(long.last_error) == 2_000
    assert long.last_error.startswith("ValueError: starteee")
    assert "characters cut …]" in long.last_error
    assert long.last_error.rstrip().endswith("eeeend"), long.last_error[-200:]

    assert (nul.status, nul.attempt) == (Status.FAILED, 1)
    assert "result: 'nul\\x00here' contains a NUL character" in nul.last_error.splitlines()[0]
