"""Schedule specs: when a schedule fires. Pure date arithmetic.

No models, no ORM, no job registry: this module is safe to import from
anywhere (the registry validates ``@job(schedule=...)`` with it) and its
functions are tested without a database. The only setting it reads is
``settings.TIME_ZONE``, through :func:`django.utils.timezone.get_default_timezone`.

Fire times: ``every()`` fires at whole multiples of its interval since the
Unix epoch, so all processes agree on them (``every(hours=1)`` fires on the
hour, UTC). ``daily()`` and ``weekly()`` follow the wall clock of
``settings.TIME_ZONE``: a time skipped by a spring-forward fires at the first
instant after the gap, a time repeated by a fall-back fires once, at its first
occurrence. ``cron()`` is parsed and iterated by croniter in
``settings.TIME_ZONE`` and keeps croniter's DST behaviour: a skipped time fires
after the gap, a repeated time fires in both occurrences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from croniter import CroniterError, croniter
from django.utils import timezone

__all__ = [
    "DAY_NAMES",
    "EPOCH",
    "Cron",
    "Daily",
    "Every",
    "ScheduleSpec",
    "Weekly",
    "cron",
    "daily",
    "every",
    "to_utc",
    "validate_spec",
    "wall_time",
    "weekly",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MICROSECOND = timedelta(microseconds=1)


class ScheduleSpec:
    """When a schedule fires. Subclasses are frozen dataclasses; fire times are in UTC."""

    def next_after(self, dt: datetime) -> datetime:
        """The first fire time strictly after ``dt`` (an aware datetime)."""
        raise NotImplementedError

    def latest_at_or_before(self, dt: datetime) -> datetime:
        """The last fire time at or before ``dt`` (an aware datetime)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Every(ScheduleSpec):
    interval: timedelta

    def __post_init__(self) -> None:
        if not isinstance(self.interval, timedelta):
            raise TypeError(f"every() interval must be a timedelta, got {self.interval!r}")
        if self.interval <= timedelta(0):
            raise ValueError(f"every() needs a positive interval, got {self.interval}")

    def next_after(self, dt: datetime) -> datetime:
        return self.latest_at_or_before(dt) + self.interval

    def latest_at_or_before(self, dt: datetime) -> datetime:
        dt = to_utc(dt)
        step = self.interval // _MICROSECOND
        elapsed = (dt - EPOCH) // _MICROSECOND
        return EPOCH + (elapsed // step) * step * _MICROSECOND

    def __str__(self) -> str:
        micros = self.interval // _MICROSECOND
        for unit, seconds in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
            count, rest = divmod(micros, seconds * 1_000_000)
            if not rest:
                return f"every {count} {unit}{'' if count == 1 else 's'}"
        return f"every {self.interval.total_seconds():g} seconds"


class _WallClockSpec(ScheduleSpec):
    """A spec that fires at a local wall-clock time on some days."""

    hour: int
    minute: int

    def _fires_on(self, day: date) -> bool:
        raise NotImplementedError

    def next_after(self, dt: datetime) -> datetime:
        dt = to_utc(dt)
        zone = _zone()
        today = dt.astimezone(zone).date()
        for offset in range(-1, 9):
            day = today + timedelta(days=offset)
            if self._fires_on(day):
                fire = wall_time(day, self.hour, self.minute, zone)
                if fire > dt:
                    return fire
        raise AssertionError(f"{self} found no fire time after {dt}")

    def latest_at_or_before(self, dt: datetime) -> datetime:
        dt = to_utc(dt)
        zone = _zone()
        today = dt.astimezone(zone).date()
        for offset in range(1, -9, -1):
            day = today + timedelta(days=offset)
            if self._fires_on(day):
                fire = wall_time(day, self.hour, self.minute, zone)
                if fire <= dt:
                    return fire
        raise AssertionError(f"{self} found no fire time before {dt}")


@dataclass(frozen=True)
class Daily(_WallClockSpec):
    hour: int
    minute: int = 0

    def __post_init__(self) -> None:
        _check_time("daily()", self.hour, self.minute)

    def _fires_on(self, day: date) -> bool:
        return True

    def __str__(self) -> str:
        return f"daily at {self.hour:02d}:{self.minute:02d}"


@dataclass(frozen=True)
class Weekly(_WallClockSpec):
    weekday: int  # 0 = Monday
    hour: int
    minute: int = 0

    def __post_init__(self) -> None:
        if not _is_int(self.weekday):
            raise TypeError(f"weekly() weekday must be an integer 0-6, got {self.weekday!r}")
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekly() weekday must be 0-6 (0 = Monday), got {self.weekday!r}")
        _check_time("weekly()", self.hour, self.minute)

    def _fires_on(self, day: date) -> bool:
        return day.weekday() == self.weekday

    def __str__(self) -> str:
        return f"weekly on {DAY_NAMES[self.weekday].title()} at {self.hour:02d}:{self.minute:02d}"


@dataclass(frozen=True)
class Cron(ScheduleSpec):
    expression: str

    def __post_init__(self) -> None:
        if not isinstance(self.expression, str):
            raise TypeError(f"cron() needs a string, got {self.expression!r}")
        if len(self.expression.split()) != 5:
            raise ValueError(
                f"cron() needs 5 fields (minute hour day-of-month month day-of-week), got {self.expression!r}"
            )
        try:  # a syntax error fails here, an impossible date ("0 0 31 2 *") on iteration
            croniter(self.expression, EPOCH).get_next(datetime)
        except CroniterError as exc:
            raise ValueError(f"invalid cron expression {self.expression!r}: {exc}") from None

    def next_after(self, dt: datetime) -> datetime:
        dt = to_utc(dt)
        fires = croniter(self.expression, dt.astimezone(_zone()))
        fire = fires.get_next(datetime).astimezone(UTC)
        while fire <= dt:
            fire = fires.get_next(datetime).astimezone(UTC)
        return fire

    def latest_at_or_before(self, dt: datetime) -> datetime:
        dt = to_utc(dt)
        fire = croniter(self.expression, dt.astimezone(_zone())).get_prev(datetime).astimezone(UTC)
        # get_prev is strictly before dt; step forward so both methods agree exactly.
        following = self.next_after(fire)
        while following <= dt:
            fire, following = following, self.next_after(following)
        return fire

    def __str__(self) -> str:
        return f"cron {self.expression!r}"


def every(seconds: float = 0, minutes: float = 0, hours: float = 0, days: float = 0) -> Every:
    """Fire every so often, at multiples of the interval since the Unix epoch."""
    parts = dict(seconds=seconds, minutes=minutes, hours=hours, days=days)
    for unit, value in parts.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"every() {unit} must be a number, got {value!r}")
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"every() {unit} must be a finite number >= 0, got {value!r}")
    try:
        interval = timedelta(**parts)
    except OverflowError:
        raise ValueError(f"every() interval is too large: {parts}") from None
    return Every(interval)


def daily(hour: int, minute: int = 0) -> Daily:
    """Fire every day at ``hour:minute`` in ``settings.TIME_ZONE``."""
    return Daily(hour, minute)


def weekly(day: str | int, hour: int, minute: int = 0) -> Weekly:
    """Fire every week on ``day`` ("mon", "monday" or 0 for Monday) at ``hour:minute``."""
    return Weekly(_weekday(day), hour, minute)


def cron(expression: str) -> Cron:
    """Fire on a 5-field cron expression, evaluated in ``settings.TIME_ZONE``."""
    return Cron(expression)


def validate_spec(spec: object) -> None:
    """Refuse anything that is not a schedule spec (a ``TypeError`` naming the thing)."""
    if not isinstance(spec, ScheduleSpec):
        raise TypeError(f"a schedule must come from every(), daily(), weekly() or cron(), got {spec!r}")


def wall_time(day: date, hour: int, minute: int, zone: ZoneInfo) -> datetime:
    """The instant (in UTC) a clock in ``zone`` shows ``hour:minute`` on ``day``.

    A repeated (fall-back) time gives its first occurrence; a skipped
    (spring-forward) time gives the first instant after the gap.
    """
    local = datetime.combine(day, time(hour, minute), tzinfo=zone)  # fold=0: first occurrence
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        return instant
    # In a gap, fold=1 reads the time with the offset after the transition (an
    # instant before it) and fold=0 with the offset before (an instant after
    # it). Search the whole seconds between them for the transition.
    before, after = int(local.replace(fold=1).timestamp()), int(local.timestamp())
    new_offset = datetime.fromtimestamp(after, zone).utcoffset()
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == new_offset:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)


def _zone() -> ZoneInfo:
    return timezone.get_default_timezone()


def to_utc(dt: object) -> datetime:
    """``dt`` (an aware datetime) in UTC. Fire times are compared in UTC only: Python ignores
    ``fold`` when comparing two datetimes of one zone, and never finds a
    repeated wall time equal to a datetime of another zone."""
    if not isinstance(dt, datetime):
        raise TypeError(f"expected a datetime, got {dt!r}")
    if timezone.is_naive(dt):
        raise ValueError(f"expected an aware datetime, got naive {dt!r}")
    return dt.astimezone(UTC)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_time(what: str, hour: object, minute: object) -> None:
    for unit, value, top in (("hour", hour, 23), ("minute", minute, 59)):
        if not _is_int(value):
            raise TypeError(f"{what} {unit} must be an integer, got {value!r}")
        if not 0 <= value <= top:
            raise ValueError(f"{what} {unit} must be 0-{top}, got {value!r}")


def _weekday(day: object) -> int:
    if _is_int(day):
        if 0 <= day <= 6:
            return day
        raise ValueError(f"weekly() day must be 0-6 (0 = Monday), got {day!r}")
    if not isinstance(day, str):
        raise TypeError(f"weekly() day must be a day name or 0-6, got {day!r}")
    name = day.strip().lower()
    for number, full in enumerate(DAY_NAMES):
        if name in (full, full[:3]):
            return number
    raise ValueError(f"weekly() day must be one of mon..sun or monday..sunday, got {day!r}")
