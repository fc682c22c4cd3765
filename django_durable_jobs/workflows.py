"""Durable workflows: checkpointed ``call()`` and ``fan_out()``.

Each ``call()``/``fan_out()`` of an execution takes the next step number.
On a re-run (retry, crash recovery, resume) the steps replay in the same
order: a step with a checkpoint returns its saved result without running,
a resolved fan-out returns its children's results.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.utils import timezone

from . import storage, tracing, validation
from .conf import jobs_settings
from .context import JobContext, current_job
from .enqueuing import build_job
from .exceptions import CheckpointMismatch, FanOutFailed, JobInterrupted
from .models import FanOut, Status
from .registry import JobDefinition, get_definition
from .state import execution
from .state import fanouts as fanout_rows
from .strategies import FailFast, Strategy, from_json


class Suspend(BaseException):  # noqa: N818 - control flow, not an error
    """Unwinds a parent handler after its fan-out was created: the slot is freed."""


@dataclass(frozen=True)
class Sub:
    """One child of a fan-out: a job and its arguments."""

    definition: JobDefinition
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


def sub(target: str | JobDefinition | Callable[..., Any], /, *args: Any, **kwargs: Any) -> Sub:
    """Describe a child job for :func:`fan_out`."""
    return Sub(get_definition(target), args, kwargs)


@dataclass(frozen=True)
class SubResult:
    ok: bool
    value: Any = None
    error: str | None = None
    status: str = ""


class FanOutResults(list[SubResult]):
    """The results of a fan-out, in sub-job order."""

    def values(self) -> list[Any]:
        """Values of the children that succeeded."""
        return [r.value for r in self if r.ok]

    def partition(self) -> tuple[list[SubResult], list[SubResult]]:
        """(succeeded, failed) results."""
        return [r for r in self if r.ok], [r for r in self if not r.ok]

    def all_succeeded(self) -> bool:
        return all(r.ok for r in self)


# --------------------------------------------------------------------------- replay state


@dataclass(frozen=True)
class Saved:
    """A checkpoint as replay needs it."""

    target: str
    value: Any


def _history(ctx: JobContext) -> tuple[dict[int, Saved], set[int]]:
    """Checkpoints and fan-out step numbers of this job, loaded once per execution."""
    if ctx.history is None:
        checkpoints, fanout_steps = execution.load_history(storage.alias(), ctx.id)
        ctx.history = ({i: Saved(t, v) for i, (t, v) in checkpoints.items()}, fanout_steps)
    return ctx.history


def _run_target(definition: JobDefinition, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    if definition.is_async:
        return asyncio.run(definition.func(*args, **kwargs))
    return definition.func(*args, **kwargs)


def call(target: str | JobDefinition | Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Run ``target`` inline once per workflow, however often the workflow re-runs.

    The result is saved as a checkpoint by the execution that holds the
    job's lease; a re-run returns the saved result without running again.
    """
    ctx = current_job()
    definition = get_definition(target)
    step = ctx.next_step()
    checkpoints, fanouts = _history(ctx)
    saved = checkpoints.get(step)
    if saved is not None:
        if saved.target != definition.name:
            raise CheckpointMismatch(
                f"step {step} of job {ctx.id} was recorded as call({saved.target!r}) but now "
                f"calls {definition.name!r}: the workflow's code changed between attempts"
            )
        with tracing.step_span(definition.name, step, replayed=True):
            return saved.value
    if step in fanouts:
        raise CheckpointMismatch(
            f"step {step} of job {ctx.id} was recorded as a fan_out() but now calls {definition.name!r}"
        )
    with tracing.step_span(definition.name, step):
        value = _run_target(definition, args, kwargs)
    validation.dumps(
        f"the result of call() of job {definition.name!r}",
        value,
        max_nesting=jobs_settings.MAX_NESTING,
        max_bytes=jobs_settings.MAX_RESULT_BYTES,
    )
    ctx.raise_if_interrupted()
    if not execution.save_checkpoint(storage.alias(), ctx.id, ctx.lease, step, definition.name, value):
        ctx.interrupted = ctx.interrupted or "lost lease"
        raise JobInterrupted(ctx.interrupted)
    checkpoints[step] = Saved(definition.name, value)
    return value


def fan_out(
    subs: Sequence[Sub],
    strategy: Strategy | None = None,
    *,
    queue: str | None = None,
    retries: int | None = None,
    timeout: float | timedelta | None = None,
    cancel_on_parent_failure: bool = True,
) -> FanOutResults:
    """Run ``subs`` as child jobs and resume this job when the strategy resolves.

    The first time, the children are created and this job waits (its worker
    slot is freed). When resumed, the replayed call returns the results in
    sub-job order, or raises :class:`FanOutFailed`.
    """
    ctx = current_job()
    strategy = strategy or FailFast()
    if not hasattr(strategy, "decide"):
        raise TypeError(f"strategy must be FailFast(), CollectAll() or Threshold(p), got {strategy!r}")
    subs = list(subs)
    for position, item in enumerate(subs):
        if not isinstance(item, Sub):
            raise TypeError(f"fan_out() item {position} must be made with sub(...), got {item!r:.80}")
    step = ctx.next_step()
    checkpoints, fanouts = _history(ctx)
    if step in checkpoints:
        raise CheckpointMismatch(
            f"step {step} of job {ctx.id} was recorded as call({checkpoints[step].target!r}) "
            "but now is a fan_out()"
        )
    using = storage.alias()
    if step in fanouts:
        existing = FanOut.objects.using(using).get(parent_id=ctx.id, index=step)
        if existing.state == FanOut.State.RUNNING:
            raise Suspend()
        return _results(using, existing)
    if not subs:
        return FanOutResults()
    tracing.add_event("fan_out", {"durable_jobs.step": step, "durable_jobs.children": len(subs)})
    if isinstance(timeout, int | float):
        timeout = timedelta(seconds=timeout)
    now = timezone.now()
    children = [
        build_job(s.definition.using(queue=queue, retries=retries), s.args, s.kwargs, now=now, fanout_index=i)
        for i, s in enumerate(subs)
    ]
    created = fanout_rows.create(
        using,
        ctx.id,
        ctx.lease,
        step=step,
        strategy=strategy.to_json(),
        children=children,
        cancel_on_parent_failure=cancel_on_parent_failure,
        timeout_at=now + timeout if timeout else None,
    )
    if not created:
        raise JobInterrupted("lost lease")
    raise Suspend()


def _results(using: str, fanout: FanOut) -> FanOutResults:
    results = FanOutResults(
        SubResult(ok=status == Status.COMPLETED, value=value, error=error or None, status=status)
        for status, value, error in fanout_rows.results(using, fanout)
    )
    if fanout.state == FanOut.State.FAILED:
        strategy = fanout.strategy
        why = "timed out" if strategy.get("timed_out") else f"failed ({from_json(strategy)})"
        ok, bad = results.partition()
        raise FanOutFailed(
            f"fan-out {fanout.index} of job {fanout.parent_id} {why}: "
            f"{len(ok)} of {len(results)} children succeeded",
            results,
        )
    return results
