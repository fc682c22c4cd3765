"""Bad input gets one clear error that names the problem, the same on SQLite and PostgreSQL,
and nothing is written (issue 11). Run on both databases by the suite."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from demo import jobs as demo
from django.core.management import CommandError, call_command

from django_durable_jobs import (
    InvalidType,
    InvalidValue,
    cancel_job,
    enqueue,
    is_job_paused,
    job,
    pause_job,
    pause_queue,
    pause_worker,
    resume_job,
    retry_job,
)
from django_durable_jobs.models import Checkpoint, FanOut, Job, QueueState, Worker

from ..factories import JobFactory, WorkerFactory

pytestmark = pytest.mark.django_db(transaction=True)


def snapshot() -> tuple:
    """Every row the job system writes, to show a refusal wrote nothing."""
    return tuple(
        sorted(model.objects.values_list(*[f.attname for f in model._meta.concrete_fields]))
        for model in (Job, Checkpoint, FanOut, QueueState, Worker)
    )


@pytest.fixture
def unchanged() -> Iterator[None]:
    before = snapshot()
    yield
    assert snapshot() == before, "a refused call wrote to the database"


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


# --------------------------------------------------------------------------- enqueue

ENQUEUE_CASES: list[tuple[str, Callable[[], Any], str]] = [
    (
        "nul in queue",
        lambda: demo.add.using(queue="a\x00b").enqueue(1, 2),
        r"^queue: 'a\\x00b' contains a NUL character",
    ),
    (
        "nul in unique_key",
        lambda: demo.add.using(unique_key="k\x00").enqueue(1, 2),
        r"^unique_key: 'k\\x00' contains a NUL character",
    ),
    (
        "nul in a string argument",
        lambda: demo.send_email.enqueue("a\x00@b.c"),
        r"^argument 'to' of job 'demo.email': 'a\\x00@b.c' contains a NUL character",
    ),
    (
        "nul deep in an argument",
        lambda: demo.process_order.enqueue({"lines": [{"sku": "x\x00"}]}),
        r"^argument 'order' of job 'demo.process_order'\['lines'\]\[0\]\['sku'\]: 'x\\x00' contains a NUL",
    ),
    (
        "unique_key too long",
        lambda: demo.add.using(unique_key="k" * 256).enqueue(1, 2),
        r"^unique_key: 'k+'… \(256 characters\) is longer than 255 characters$",
    ),
    (
        "queue too long",
        lambda: demo.add.using(queue="q" * 101).enqueue(1, 2),
        r"^queue: .*\(101 characters\) is longer than 100 characters$",
    ),
    (
        "priority above 32 bits",
        lambda: demo.add.using(priority=2**31).enqueue(1, 2),
        r"^priority: 2147483648 is outside -2147483648\.\.2147483647$",
    ),
    (
        "priority below 32 bits",
        lambda: demo.add.using(priority=-(2**31) - 1).enqueue(1, 2),
        r"^priority: -2147483649 is outside -2147483648\.\.2147483647$",
    ),
    (
        "retries above 32 bits",
        lambda: demo.add.using(retries=2**40).enqueue(1, 2),
        r"^retries: 1099511627776 is outside 0\.\.2147483647$",
    ),
    (
        "run_after past year 9999",
        lambda: demo.add.using(run_after=timedelta(days=999999999)).enqueue(1, 2),
        r"^run_after: datetime.timedelta\(days=999999999\) from now is after year 9999$",
    ),
    (
        "nested 950 levels",
        lambda: demo.ship.enqueue(nested(950)),
        r"^argument 'items' of job 'demo.ship': is nested more than 64 levels deep \(MAX_NESTING\)$",
    ),
    (
        "nested beyond the recursion limit",
        lambda: demo.ship.enqueue(nested(5000)),
        r"^argument 'items' of job 'demo.ship': is nested more than 64 levels deep \(MAX_NESTING\)$",
    ),
    (
        "a dict key that is not a string",
        lambda: demo.process_order.enqueue({1: "a"}),
        r"^argument 'order' of job 'demo.process_order': dict key 1 is not a string and would not "
        r"survive a JSON round trip$",
    ),
    (
        "10 MB of arguments",
        lambda: demo.send_email.enqueue("a@b.c", subject="x" * 10_000_000),
        r"^arguments of job 'demo.email': are 10,000,\d+ bytes of JSON, over the limit of 1,048,576 "
        r"\(MAX_ARGS_BYTES\)$",
    ),
    (
        "NaN",
        lambda: demo.ship.enqueue([float("nan")]),
        r"^argument 'items' of job 'demo.ship'\[0\]: nan is not a JSON number$",
    ),
    (
        "not JSON",
        lambda: demo.ship.enqueue([object()]),
        r"^argument 'items' of job 'demo.ship'\[0\]: object <object object at .*> is not JSON-serialisable$",
    ),
    (
        "by name",
        lambda: enqueue("demo.add\x00", 1),
        r"no job is registered under the name 'demo.add\\x00'",
    ),
]


@pytest.mark.parametrize(
    "call, error", [case[1:] for case in ENQUEUE_CASES], ids=[case[0] for case in ENQUEUE_CASES]
)
def test_enqueue_refuses_bad_input_naming_it(call: Callable[[], Any], error: str, unchanged: None) -> None:
    with pytest.raises((InvalidValue, LookupError), match=error) as caught:
        call()
    assert "\n" not in str(caught.value)


def test_enqueue_many_refuses_the_whole_batch_for_one_bad_call(unchanged: None) -> None:
    with pytest.raises(InvalidValue, match=r"^argument 'b' of job 'demo.add': '\\x00'"):
        demo.add.enqueue_many([((1, 2), {}), ((3,), {"b": "\x00"})])


def test_aenqueue_refuses_like_enqueue(unchanged: None) -> None:
    with pytest.raises(InvalidValue, match=r"^priority: 2147483648 is outside"):
        asyncio.run(demo.add.using(priority=2**31).aenqueue(1, 2))


@pytest.mark.parametrize(
    "options, error",
    [
        ({"priority": 2**31}, r"^priority: 2147483648 is outside"),
        ({"retries": -1}, r"^retries: -1 is outside 0\.\.2147483647$"),
        ({"queue": "a:b"}, r"^queue: 'a:b' may not contain ':' or ','"),
        ({"run_after": timedelta(days=999999999)}, r"^run_after: .* is after year 9999$"),
        ({"unique_key": 5}, r"^unique_key: 5 is not a string$"),
    ],
)
def test_using_refuses_bad_options_at_once(options: dict, error: str) -> None:
    with pytest.raises(InvalidValue, match=error):
        demo.add.using(**options)


def test_a_string_key_argument_is_stored_as_given() -> None:
    stored = demo.process_order.enqueue({"1": "a", "nested": [{"k": None}]})
    assert Job.objects.get(pk=stored.pk).args == [{"1": "a", "nested": [{"k": None}]}]


def test_non_json_is_still_a_type_error() -> None:
    with pytest.raises(TypeError):
        demo.ship.enqueue([object()])
    with pytest.raises(InvalidType):
        demo.process_order.enqueue({1: "a"})


# --------------------------------------------------------------------------- @job


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"name": "n" * 201}, r"^name: .*\(201 characters\) is longer than 200 characters$"),
        ({"name": "a\x00b"}, r"^name: 'a\\x00b' contains a NUL character"),
        ({"name": "x", "queue": "q\x00"}, r"^queue: 'q\\x00' contains a NUL character"),
        ({"name": "x", "priority": 2**31}, r"^priority: 2147483648 is outside"),
        ({"name": "x", "retries": 2**40}, r"^retries: 1099511627776 is outside 0\.\.2147483647$"),
    ],
)
def test_job_decorator_refuses_bad_options(kwargs: dict, error: str) -> None:
    with pytest.raises(InvalidValue, match=error):
        job(**kwargs)(lambda: None)


# --------------------------------------------------------------------------- transitions


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda j: pause_job(j.pk, reason="a\x00b"), r"^reason: 'a\\x00b' contains a NUL character"),
        (
            lambda j: pause_job(j.pk, by="b" * 151),
            r"^by: .*\(151 characters\) is longer than 150 characters$",
        ),
        (lambda j: pause_job(j.pk, by="a\x00"), r"^by: 'a\\x00' contains a NUL character"),
        (lambda j: pause_job(j.pk, reason="r" * 10_001), r"^reason: .* is longer than 10000 characters$"),
        (lambda j: pause_job(j.pk, "gentle"), r"^mode: 'gentle' is not 'graceful' or 'aggressive'$"),
        (lambda j: resume_job(j.pk, by=7), r"^by: 7 is not a string$"),
        (lambda j: cancel_job("abc"), r"^job_id: 'abc' is not a job id \(a positive integer\)$"),
        (lambda j: cancel_job(2**70), r"^job_id: 1180591620717411303424 is not a job id"),
        (lambda j: cancel_job(j.pk, reason="\x00"), r"^reason: '\\x00' contains a NUL character"),
        (lambda j: retry_job("1²"), r"^job_id: '1²' is not a job id"),
        (lambda j: is_job_paused(None), r"^job_id: None is not a job id"),
        (lambda j: pause_queue("default", reason="\x00"), r"^reason: '\\x00' contains a NUL character"),
        (lambda j: pause_queue("a\x00"), r"^queue: 'a\\x00' contains a NUL character"),
        (
            lambda j: pause_queue("default", until=timedelta(0)),
            r"^until: datetime.timedelta\(0\) is not in the future$",
        ),
        (
            lambda j: pause_queue("default", until=timedelta(days=999999999)),
            r"^until: datetime.timedelta\(days=999999999\) from now is after year 9999$",
        ),
        (
            lambda j: pause_worker("w" * 201),
            r"^worker_id: .*\(201 characters\) is longer than 200 characters$",
        ),
        (lambda j: pause_worker("w", reason="\x00"), r"^reason: '\\x00' contains a NUL character"),
    ],
)
def test_transitions_refuse_bad_input_naming_it(call: Callable[[Job], Any], error: str) -> None:
    target = JobFactory()
    WorkerFactory(id="w")
    before = snapshot()
    with pytest.raises(InvalidValue, match=error):
        call(target)
    assert snapshot() == before


def test_a_pause_until_a_timedelta_is_kept() -> None:
    state = pause_queue("default", until=timedelta(minutes=5))
    assert QueueState.objects.get(queue="default").paused_until == state.paused_until


# --------------------------------------------------------------------------- the command line


def refused(*argv: str) -> CommandError:
    with pytest.raises(CommandError) as caught:
        call_command(*argv)
    return caught.value


@pytest.mark.parametrize(
    "argv, error",
    [
        (
            ("durablejobs", "pause-queue", "default", "--until", "0m"),
            "--until: '0m' is not a positive duration",
        ),
        (
            ("durablejobs", "pause-queue", "default", "--until", "999999999d"),
            "until: datetime.timedelta(days=999999999) from now is after year 9999",
        ),
        (("durablejobs", "pause-queue", "default", "--until", "soon"), "--until: 'soon' is not a duration"),
        (("durablejobs", "pause-job", "abc"), "job: 'abc' is not a job id (a positive integer)"),
        (("durablejobs", "pause-job", "1²"), "job: '1²' is not a job id (a positive integer)"),
        (("durablejobs", "cancel-job", "1", "--by", "b" * 151), "is longer than 150 characters"),
        (("durablejobs", "pause-queue", "a:b"), "queue: 'a:b' may not contain ':' or ','"),
        (("runjobs", "-c", "99999999999"), "--concurrency: 99999999999 is outside 1..1000"),
        (("runjobs", "-c", "100000"), "--concurrency: 100000 is outside 1..1000"),
        (("runjobs", "-c", "0"), "--concurrency: 0 is outside 1..1000"),
        (("runjobs", "-c", "many"), "--concurrency: 'many' is not a whole number"),
        (("runjobs", "-q", "a:99999999999"), "--queue a: 99999999999 is outside 1..1000"),
        (("runjobs", "-q", "a:b:c"), "--queue a: 'b:c' is not a whole number"),
        (("runjobs", "-q", ""), "--queue: must not be empty"),
        (("runjobs", "--worker-id", "w" * 201), "is longer than 200 characters"),
    ],
)
def test_commands_refuse_bad_values_with_status_2(argv: tuple[str, ...], error: str, unchanged: None) -> None:
    exc = refused(*argv)
    assert error in str(exc), str(exc)
    assert exc.returncode == 2
    assert "\n" not in str(exc)


# --------------------------------------------------------------------------- the Tasks backend


@pytest.mark.usefixtures("durable_tasks")
@pytest.mark.parametrize(
    "call, error",
    [
        (
            lambda t: t.greet.enqueue("a\x00b"),
            r"^argument 'name' of job 'tasks:demo.tasks.greet': 'a\\x00b' contains",
        ),
        (lambda t: t.greet.enqueue("x", greeting={1: 2}), r"dict key 1 is not a string"),
        (lambda t: t.add.enqueue(nested(100), 1), r"is nested more than 64 levels deep \(MAX_NESTING\)$"),
    ],
)
def test_the_tasks_backend_refuses_like_enqueue(
    call: Callable[[Any], Any], error: str, unchanged: None
) -> None:
    from demo import tasks

    with pytest.raises(InvalidValue, match=error):
        call(tasks)


# --------------------------------------------------------------------------- a real command line


@pytest.mark.parametrize(
    "argv, line",
    [
        (["runjobs", "-c", "99999999999"], "CommandError: --concurrency: 99999999999 is outside 1..1000"),
        (["runjobs", "-q", "a:99999999999"], "CommandError: --queue a: 99999999999 is outside 1..1000"),
        (
            ["durablejobs", "pause-job", "abc"],
            "CommandError: job: 'abc' is not a job id (a positive integer)",
        ),
    ],
)
def test_a_bad_value_on_the_command_line_is_one_line_and_status_2(
    worker_env, argv: list[str], line: str
) -> None:
    from ..conftest import MANAGE

    done = subprocess.run(
        [sys.executable, str(MANAGE), *argv], env=worker_env, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stderr.strip(), done.stdout) == (2, line, "")


def test_the_nesting_limit_is_exact() -> None:
    demo.ship.enqueue(nested(64))
    demo.ship.enqueue(items=nested(64))
    for call in (lambda: demo.ship.enqueue(nested(65)), lambda: demo.ship.enqueue(items=nested(65))):
        with pytest.raises(InvalidValue, match=r"nested more than 64 levels deep"):
            call()


def test_the_size_limit_is_exact(settings) -> None:
    settings.DURABLE_JOBS = {"MAX_ARGS_BYTES": 100}
    demo.send_email.enqueue("x" * 51, subject="y" * 30)  # ["x…"] + {"subject": "y…"}: 55 + 45 bytes
    with pytest.raises(
        InvalidValue, match=r"are 101 bytes of JSON, over the limit of 100 \(MAX_ARGS_BYTES\)$"
    ):
        demo.send_email.enqueue("x" * 52, subject="y" * 30)
