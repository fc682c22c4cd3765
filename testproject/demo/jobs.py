"""Example jobs of the demo project (also used by the test suite)."""

import asyncio
import os
import random
import time

from django_durable_jobs import (
    Limit,
    NoRetry,
    RateLimit,
    RetryAfter,
    Snooze,
    call,
    current_job,
    every,
    fan_out,
    job,
    schedule,
    sub,
)


@job("demo.noop")
def noop() -> None:
    """Does nothing: for benchmarks."""


@job("demo.add")
def add(a: int, b: int) -> int:
    return a + b


@job("demo.sleep", queue="slow")
def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@job("demo.spin")
def spin(seconds: float) -> int:
    """A pure-Python loop (never calls into C for long): interruptible by an exception."""
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        n += 1
    return n


@job("demo.flaky", retries=3)
def flaky(fail_times: int, key: str) -> str:
    """Fails its first ``fail_times`` attempts."""
    if current_job().attempt <= fail_times:
        raise RuntimeError(f"flaky failure on attempt {current_job().attempt} ({key})")
    return f"ok after {current_job().attempt} attempts"


@job("demo.email", queue="emails", retries=5)
def send_email(to: str, subject: str = "Hello") -> str:
    if random.random() < 0.1:
        raise RetryAfter(0.2, "SMTP busy")
    return f"sent {subject!r} to {to}"


@job("demo.async_add")
async def async_add(a: int, b: int) -> int:
    await asyncio.sleep(0.01)
    return a + b


@job("demo.async_sleep")
async def async_sleep(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


@job("demo.charge")
def charge(amount: int) -> str:
    return f"receipt-{amount}"


@job("demo.ship")
def ship(items: list) -> int:
    return len(items)


@job("demo.process_order")
def process_order(order: dict) -> str:
    """A multi-step workflow: each step runs once, however often the job re-runs."""
    receipt = call(charge, order["amount"])
    call(ship, order["items"])
    return receipt


@job("demo.square")
def square(n: int) -> int:
    return n * n


@job("demo.sum_squares")
def sum_squares(n: int) -> int:
    """Fan out n children and add up their results."""
    results = fan_out([sub(square, i) for i in range(n)])
    return sum(results.values())


@job("demo.record")
def record(key: str) -> str:
    """A side effect that must happen once: a unique row per key."""
    import os

    from demo.models import SideEffect

    SideEffect.objects.create(key=key, worker_pid=os.getpid())
    return key


def _log_step(step: str) -> None:
    from demo.models import StepLog

    StepLog.objects.create(job_id=current_job().id, step=step)


@job("demo.step")
def step(name: str, seconds: float = 0.0) -> str:
    """A workflow step that logs each real execution and may take a while."""
    _log_step(name)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pass
    return name


@job("demo.fail_once_step")
def fail_once_step(name: str) -> str:
    from demo.models import StepLog

    _log_step(name)
    if StepLog.objects.filter(job_id=current_job().id, step=name).count() == 1:
        raise RuntimeError("step fails the first time")
    return name


@job("demo.three_steps", retries=2)
def three_steps(seconds: float = 0.0, fail_second_once: bool = False) -> list:
    """Step 1, a step 2 that may be slow or fail once, step 3."""
    first = call(step, "one")
    second = call(fail_once_step, "two") if fail_second_once else call(step, "two", seconds)
    third = call(step, "three")
    return [first, second, third]


@job("demo.spin_steps", retries=1)
def spin_steps(seconds: float) -> list:
    """A finished call() step, then a pure-Python loop that only an exception can stop."""
    first = call(step, "one")
    second = call(step, "two", seconds)
    return [first, second]


@job("demo.slow_fail", retries=3)
def slow_fail(seconds: float) -> None:
    """Works for a while, then fails (retryable)."""
    time.sleep(seconds)
    raise RuntimeError(f"failed after {seconds}s")


@job("demo.maybe_fail")
def maybe_fail(n: int, fail: bool = False, seconds: float = 0.0) -> int:
    time.sleep(seconds)
    if fail:
        raise RuntimeError(f"child {n} failed")
    return n


@job("demo.fan_parent")
def fan_parent(fails: list, strategy: str, ratio: float = 0.8, seconds: float = 0.0) -> dict:
    """Fan out one child per entry of ``fails`` with the named strategy."""
    from django_durable_jobs import CollectAll, FailFast, FanOutFailed, Threshold

    chosen = {"fail_fast": FailFast(), "collect_all": CollectAll(), "threshold": Threshold(ratio)}[strategy]
    children = [sub(maybe_fail, i, fail=bool(f), seconds=seconds) for i, f in enumerate(fails)]
    try:
        results = fan_out(children, strategy=chosen)
    except FanOutFailed as exc:
        raise NoRetry(str(exc)) from exc
    ok, bad = results.partition()
    return {"values": results.values(), "failed": len(bad), "all": results.all_succeeded()}


@job("demo.tick")
def tick() -> None:
    """Scheduled every second when DJJ_DEMO_TICK=1 (used by the scheduler test)."""


if os.environ.get("DJJ_DEMO_TICK") in ("1", "2"):
    schedule(tick, every(seconds=1), catch_up="all")  # a slow tick on a busy machine skips none
if os.environ.get("DJJ_DEMO_TICK") == "2":  # a second schedule of the same job
    schedule(tick, every(seconds=2), name="demo.tick-every-2s", catch_up="all")


@job("demo.spin_report")
def spin_report(path: str, seconds: float) -> None:
    """Spin, and write the moment the loop stopped (even when interrupted) to ``path``."""
    from pathlib import Path

    try:
        spin(seconds)
    finally:
        Path(path).write_text(repr(time.time()))


@job("demo.nested")
def nested(groups: int, size: int) -> int:
    """A fan-out whose children fan out themselves."""
    return sum(fan_out([sub(sum_squares, size) for _ in range(groups)]).values())


@job("demo.fan_timeout")
def fan_timeout(seconds: float, timeout: float) -> str:
    """Children slower than the fan-out's timeout."""
    from django_durable_jobs import FanOutFailed

    try:
        fan_out([sub(sleep, seconds) for _ in range(2)], timeout=timeout, queue="default")
    except FanOutFailed as exc:
        return f"timed out: {exc}"
    return "finished"


@job("demo.changing_workflow")
def changing_workflow() -> str:
    """Calls a different step on its second run: the replay must refuse it."""
    if current_job().attempt == 1:
        call(charge, 1)
        raise RuntimeError("first attempt fails after its step")
    return call(ship, ["x"])


@job("demo.slow_fan")
def slow_fan(seconds: float, children: int) -> int:
    """Works for a while, then fans out (to pause a parent on its way to waiting)."""
    time.sleep(seconds)
    return sum(fan_out([sub(square, i) for i in range(children)]).values())


def _nap(seconds: float) -> None:
    """Sleep in 10 ms slices: an exception raised into the thread lands within one."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.01))


@job("demo.nap")
def nap(seconds: float) -> float:
    _nap(seconds)
    return seconds


@job("demo.nap_step")
def nap_step(name: str, seconds: float) -> str:
    """A workflow step that logs each real execution."""
    _log_step(name)
    _nap(seconds)
    return name


@job("demo.nap_flow")
def nap_flow(seconds: float) -> list:
    """Three checkpointed steps."""
    return [call(nap_step, name, seconds) for name in ("one", "two", "three")]


@job("demo.nap_square")
def nap_square(n: int, seconds: float) -> int:
    _nap(seconds)
    return n * n


@job("demo.nap_fan")
def nap_fan(n: int, seconds: float) -> int:
    """Fan out n children in this job's queue, without retries, and add up their results."""
    children = [sub(nap_square, i, seconds) for i in range(n)]
    return sum(fan_out(children, queue=current_job().queue, retries=0).values())


# Fault injection: jobs that use, hold or break the database connection (tests/e2e/test_worker_faults.py).


def _query(sql: str) -> object:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


@job("demo.db_touch")
def db_touch() -> int:
    """One tiny query on the worker thread's connection."""
    return _query("SELECT 1")


@job("demo.db_nap")
def db_nap(seconds: float) -> int:
    """Sit in database calls for ``seconds``: ``pg_sleep(0.05)`` on PostgreSQL, query + sleep on SQLite."""
    from django.db import connection

    postgres = connection.vendor == "postgresql"
    deadline = time.monotonic() + seconds
    queries = 0
    while time.monotonic() < deadline:
        if postgres:
            _query("SELECT pg_sleep(0.05)")
        else:
            _query("SELECT 1")
            time.sleep(0.05)
        queries += 1
    return queries


@job("demo.fan_out_after_restart", retries=0)
def fan_out_after_restart(marker: str, n: int) -> int:
    """A parent whose session the server ends inside ``fan_out()``'s transaction, the first time it runs.

    As when a restart lands there: the session ends between two statements of
    the transaction that records the fan-out. ``marker`` (a file) says whether
    that happened already.
    """
    import psycopg
    from django.db import connection

    children = [sub(nap_square, i, 0.0) for i in range(n)]
    if os.path.exists(marker):
        return sum(fan_out(children, retries=0).values())
    open(marker, "w").close()
    pid = _query("SELECT pg_backend_pid()")
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    statements = 0

    def end_session_at_second_statement(execute, sql, params_, many, context):
        nonlocal statements
        if connection.in_atomic_block:
            statements += 1
            if statements == 2:
                with psycopg.connect(**params, autocommit=True) as other:
                    other.execute("SELECT pg_terminate_backend(%s)", [pid])
        return execute(sql, params_, many, context)

    with connection.execute_wrapper(end_session_at_second_statement):
        return sum(fan_out(children, retries=0).values())


@job("demo.block")
def block(seconds: float) -> float:
    """One C call of ``seconds`` (no bytecode runs meanwhile: an exception raised into it waits)."""
    time.sleep(seconds)
    return seconds


@job("demo.retry_forever", retries=3)
def retry_forever() -> None:
    """Asks for a retry in 10**12 seconds (far beyond what a datetime holds)."""
    raise RetryAfter(10**12, "come back in 31,000 years")


@job("demo.nul_result")
def nul_result() -> str:
    """A result PostgreSQL's jsonb cannot store."""
    return "nul\x00here"


@job("demo.nul_error")
def nul_error() -> None:
    """An error message PostgreSQL's text cannot store."""
    raise RuntimeError("bad\x00byte")


@job("demo.big_result")
def big_result(size: int) -> str:
    """A result over MAX_RESULT_BYTES: stored as a marked preview."""
    return "x" * size


@job("demo.deep_result")
def deep_result(depth: int) -> list:
    """A result nested deeper than MAX_NESTING."""
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@job("demo.long_error")
def long_error(size: int) -> None:
    """An error text over MAX_ERROR_CHARS: stored cut in the middle."""
    raise ValueError("start" + "e" * size + "end")


@job("demo.echo")
def echo(value: object = None, **extra: object) -> object:
    """Returns what it was given (to check arguments come back as given)."""
    return value


def _probe(key: str, seconds: float) -> None:
    """Count this handler as running under ``key`` for ``seconds``, keeping the peak."""
    from django.db.models import F
    from django.db.models.functions import Greatest

    from .models import Probe

    Probe.objects.get_or_create(key=key)
    Probe.objects.filter(key=key).update(running=F("running") + 1, peak=Greatest("peak", F("running") + 1))
    try:
        time.sleep(seconds)
    finally:
        Probe.objects.filter(key=key).update(running=F("running") - 1)


@job("demo.limited", concurrency=2)
def limited(seconds: float = 0.005) -> None:
    """At most two at once across every worker."""
    _probe("limited", seconds)


@job("demo.per_customer", concurrency=Limit(1, key="customer:{customer_id}"))
def per_customer(customer_id: int, seconds: float = 0.2) -> int:
    """At most one at once per customer; customers do not hold each other up."""
    _probe(f"customer:{customer_id}", seconds)
    return customer_id


@job("demo.noop_limited", concurrency=1000)
def noop_limited() -> None:
    """A no-op under a limit it never reaches: what checking a limit costs (benchmarks)."""


@job("demo.noop_per_key", concurrency=Limit(1, key="{key}"))
def noop_per_key(key: int) -> None:
    """A no-op limited to one at a time per key (benchmarks)."""


@job("demo.rated", rate_limit="20/s")
def rated(n: int = 0) -> int:
    """At most 20 starts in any second across every worker."""
    return n


@job("demo.rated_per_tenant", rate_limit=RateLimit("2/10s", key="tenant:{tenant}"))
def rated_per_tenant(tenant: str) -> str:
    """Two starts per ten seconds per tenant."""
    return tenant


@job("demo.policy_tick", queue="policy")
def policy_tick() -> None:
    """Fired by the schedules of the scheduling policy test (DJJ_DEMO_POLICIES=1)."""


@job("demo.catch_up_tick", queue="catch-up")
def catch_up_tick() -> None:
    """Fired by the catch-up schedules of the scheduling policy test (DJJ_DEMO_POLICIES=1)."""


if os.environ.get("DJJ_DEMO_POLICIES") == "1":
    for _policy in ("latest", "skip", "all"):
        window = 0.5 if _policy == "skip" else None
        schedule(
            catch_up_tick,
            every(seconds=1),
            name=f"catch-up-{_policy}",
            catch_up=_policy,
            catch_up_window=window,
        )
    for _policy in ("skip", "coalesce", "queue"):
        schedule(policy_tick, every(seconds=1), name=f"while-paused-{_policy}", while_paused=_policy)


@job("demo.snoozy")
def snoozy(times: int, seconds: float = 0.05) -> int:
    """Says "not now" ``times`` times, then completes."""
    ctx = current_job()
    if ctx.snoozes < times:
        raise Snooze(seconds)
    return ctx.snoozes


@job("demo.progress")
def progress(items: int, seconds: float) -> int:
    """Works through ``items`` in ``seconds``, reporting each one (a write a second gets through)."""
    ctx = current_job()
    for done in range(1, items + 1):
        _nap(seconds / items)
        ctx.set_progress(done, items, f"item {done} of {items}")
    return items


@job("demo.async_progress")
async def async_progress(items: int) -> int:
    """Reports ``items`` times in quick succession from an ``async def`` handler."""
    ctx = current_job()
    for done in range(1, items + 1):
        await asyncio.sleep(0)
        await ctx.aset_progress(done, items, f"item {done} of {items}")
    return items
