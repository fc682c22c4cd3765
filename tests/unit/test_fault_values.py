"""Values that only the database would refuse are dealt with before they reach it."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from django_durable_jobs import RetryAfter
from django_durable_jobs.retry import MAX_RETRY_DELAY, describe_error, retry_at
from django_durable_jobs.validation import payload

NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize("seconds", [10**12, 10**30, math.inf])
def test_a_huge_retry_after_is_cut_to_the_longest_delay(seconds: float) -> None:
    assert retry_at(RetryAfter(seconds), attempt=1, now=NOW) == NOW + MAX_RETRY_DELAY


def test_retry_after_is_kept_when_reasonable() -> None:
    assert retry_at(RetryAfter(30), attempt=1, now=NOW) == NOW + timedelta(seconds=30)


@pytest.mark.parametrize("seconds", [-1, math.nan, "5", None, True])
def test_retry_after_refuses_what_is_not_a_delay(seconds: object) -> None:
    with pytest.raises(ValueError, match="RetryAfter seconds must be a number"):
        RetryAfter(seconds)  # type: ignore[arg-type]


def test_an_error_with_a_nul_character_is_stored_readably() -> None:
    text = describe_error(ValueError("bad\x00byte"))
    assert "\x00" not in text
    assert text.startswith("ValueError: bad\\x00byte")


@pytest.mark.parametrize("value", ["a\x00b", {"k\x00": 1}, [["deep", {"x": "\x00"}]], "\\\x00"])
def test_json_with_a_nul_character_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="NUL character"):
        payload("result", value, max_nesting=64)


@pytest.mark.parametrize("value", ["a\\u0000b", "\\\\u0000", {"u0000": "\\"}])
def test_text_that_only_looks_like_an_escaped_nul_is_accepted(value: object) -> None:
    payload("result", value, max_nesting=64)
