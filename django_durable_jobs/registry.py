"""Job definitions: the ``@job`` decorator and the name -> handler registry."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import validation
from .exceptions import UnknownJob
from .limits import Limit, RateLimit, as_limit, as_rate_limit

if TYPE_CHECKING:
    from .models import Job

_registry: dict[str, JobDefinition] = {}
#: Name prefix -> function that finds the definition of a name nobody registered.
_resolvers: dict[str, Callable[[str], JobDefinition | None]] = {}


@dataclass(frozen=True)
class JobOptions:
    """Per-enqueue options; ``None`` means "the definition's default"."""

    queue: str | None = None
    priority: int | None = None
    run_after: datetime | timedelta | None = None
    retries: int | None = None
    unique_key: str | None = None
    timeout: float | timedelta | None = None


@dataclass(eq=False)
class JobDefinition:
    """A registered handler. Calling it runs the function directly."""

    func: Callable[..., Any]
    name: str
    queue: str | None = None
    priority: int = 0
    retries: int | None = None
    schedule: Any = None
    options: JobOptions = field(default_factory=JobOptions)
    concurrency: Limit | None = None
    rate_limit: RateLimit | None = None
    timeout: float | timedelta | None = None

    def __post_init__(self) -> None:
        self.is_async = inspect.iscoroutinefunction(self.func)
        self.signature = inspect.signature(self.func)
        self.__doc__ = self.func.__doc__
        self.__wrapped__ = self.func

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<job {self.name!r}>"

    def using(
        self,
        *,
        queue: str | None = None,
        priority: int | None = None,
        run_after: datetime | timedelta | None = None,
        retries: int | None = None,
        unique_key: str | None = None,
        timeout: float | timedelta | None = None,
    ) -> JobDefinition:
        """A copy of this definition whose enqueues use the given options (checked now)."""
        from django.utils import timezone

        from . import enqueuing

        new_options = replace(
            self.options,
            **{
                k: v
                for k, v in dict(
                    queue=queue,
                    priority=priority,
                    run_after=run_after,
                    retries=retries,
                    unique_key=unique_key,
                    timeout=timeout,
                ).items()
                if v is not None
            },
        )
        copy = replace(self, options=new_options)
        enqueuing.resolve_options(copy)
        if run_after is not None:
            validation.moment("run_after", run_after, timezone.now())
        return copy

    def enqueue(self, *args: Any, **kwargs: Any) -> Job:
        """Store a job that runs ``func(*args, **kwargs)`` and wake a worker after commit."""
        from . import enqueuing  # needs the models: only once apps are ready

        return enqueuing.insert_one(enqueuing.build_job(self, args, kwargs))

    async def aenqueue(self, *args: Any, **kwargs: Any) -> Job:
        from asgiref.sync import sync_to_async

        return await sync_to_async(self.enqueue)(*args, **kwargs)

    def enqueue_many(
        self, calls: Iterable[tuple[Sequence[Any], dict[str, Any]] | Sequence[Any]]
    ) -> list[Job]:
        """Enqueue many calls in one bulk insert. Each item is ``(args, kwargs)``."""
        from . import enqueuing

        return enqueuing.enqueue_many(self, calls)


def job(
    func: Callable[..., Any] | str | None = None,
    /,
    *,
    name: str | None = None,
    queue: str | None = None,
    priority: int = 0,
    retries: int | None = None,
    schedule: Any = None,
    concurrency: int | Limit | None = None,
    rate_limit: str | RateLimit | None = None,
    timeout: float | timedelta | None = None,
) -> Any:
    """Register a function as a job.

    ``@job``, ``@job("name", queue=..., priority=..., retries=..., schedule=...,
    concurrency=...)`` or ``@job(queue=...)``. The default name is
    ``"<module>.<function>"``. ``concurrency``: at most that many of this job
    run at once across every worker, or a :class:`~.limits.Limit` per key.
    ``rate_limit``: at most so many start per period across every worker
    (``"100/m"``), or a :class:`~.limits.RateLimit` per key. ``timeout``:
    seconds (or a timedelta) an execution may run before it is interrupted
    and counted as a failed attempt (``DEFAULT_TIMEOUT`` otherwise).
    """
    if isinstance(func, str):
        if name is not None:
            raise TypeError("give the job name once: @job('name') or @job(name='name')")
        name, func = func, None

    def decorate(f: Callable[..., Any]) -> JobDefinition:
        if not callable(f):
            raise TypeError(f"@job needs a function, got {f!r}")
        if retries is not None:
            validation.integer("retries", retries, 0, validation.INT32[1])
        validation.integer("priority", priority)
        if queue is not None:
            validation.queue_name(queue)
        job_name = validation.job_name(name or f"{f.__module__}.{f.__qualname__}")
        limit, rate = as_limit(concurrency), as_rate_limit(rate_limit)
        definition = JobDefinition(
            func=f,
            name=job_name,
            queue=queue,
            priority=priority,
            retries=retries,
            schedule=schedule,
            concurrency=limit,
            rate_limit=rate,
            timeout=validation.seconds("timeout", timeout) if timeout is not None else None,
        )
        for declared in (limit, rate):
            if declared is not None:
                Limit(1, declared.key).check(job_name, definition.signature)
        if schedule is not None:
            from .scheduling.specs import validate_spec

            validate_spec(schedule)
        register(definition)
        return definition

    if func is None:
        return decorate
    return decorate(func)


def any_limits() -> bool:
    """Whether some job may be under a concurrency or rate limit (the claim then looks for them)."""
    from .conf import jobs_settings

    if any(options.get("rate_limit") for options in jobs_settings.QUEUES.values()):
        return True
    return any(d.concurrency is not None or d.rate_limit is not None for d in _registry.values())


def register(definition: JobDefinition) -> None:
    existing = _registry.get(definition.name)
    if existing is not None and existing.func is not definition.func:
        same_place = (
            existing.func.__module__ == definition.func.__module__
            and existing.func.__qualname__ == definition.func.__qualname__
        )
        if not same_place:  # a module imported twice re-registers; two different jobs may not
            raise ValueError(
                f"job name {definition.name!r} is already used by "
                f"{existing.func.__module__}.{existing.func.__qualname__}"
            )
    _registry[definition.name] = definition


def register_resolver(prefix: str, resolver: Callable[[str], JobDefinition | None]) -> None:
    """Let ``resolver`` find job names starting with ``prefix`` that nothing registered.

    For definitions that exist only once something is imported, e.g. the
    tasks of Django's Tasks framework (:mod:`django_durable_jobs.backend`): a
    worker must run them without having enqueued them. ``resolver(name)``
    returns the definition (registering it is up to the resolver) or None.
    """
    _resolvers[prefix] = resolver


def resolve(name: str) -> JobDefinition | None:
    """The definition registered under ``name``, or found by a resolver; None if there is none."""
    definition = _registry.get(name)
    if definition is not None:
        return definition
    for prefix, resolver in list(_resolvers.items()):
        if name.startswith(prefix):
            definition = resolver(name)
            if definition is not None:
                return definition
    return None


def get_definition(name_or_def: str | JobDefinition | Callable[..., Any]) -> JobDefinition:
    """The definition of a job name, job function or definition; :class:`UnknownJob` if none."""
    if isinstance(name_or_def, JobDefinition):
        return name_or_def
    if isinstance(name_or_def, str):
        definition = resolve(name_or_def)
        if definition is None:
            raise UnknownJob(name_or_def)
        return definition
    for definition in _registry.values():
        if definition.func is name_or_def:
            return definition
    raise UnknownJob(getattr(name_or_def, "__qualname__", repr(name_or_def)))


def all_definitions() -> dict[str, JobDefinition]:
    return dict(_registry)


def enqueue(name: str | JobDefinition | Callable[..., Any], /, *args: Any, **kwargs: Any) -> Job:
    """Enqueue the job registered under ``name`` (or a job function)."""
    return get_definition(name).enqueue(*args, **kwargs)


async def aenqueue(name: str | JobDefinition | Callable[..., Any], /, *args: Any, **kwargs: Any) -> Job:
    """Async twin of :func:`enqueue`."""
    return await get_definition(name).aenqueue(*args, **kwargs)
