"""Fan-out strategies: pure policies that decide when a fan-out is resolved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Decision = Literal["succeeded", "failed"] | None


@dataclass(frozen=True)
class FailFast:
    """The first child failure fails the fan-out; the other children are cancelled."""

    def decide(self, total: int, succeeded: int, failed: int, cancelled: int) -> Decision:
        if failed or cancelled:
            return "failed"
        return "succeeded" if succeeded == total else None

    def to_json(self) -> dict[str, Any]:
        return {"kind": "fail_fast"}


@dataclass(frozen=True)
class CollectAll:
    """Wait for every child; return what each did."""

    def decide(self, total: int, succeeded: int, failed: int, cancelled: int) -> Decision:
        return "succeeded" if succeeded + failed + cancelled == total else None

    def to_json(self) -> dict[str, Any]:
        return {"kind": "collect_all"}


@dataclass(frozen=True)
class Threshold:
    """Fail only if fewer than ``ratio`` of the children succeed (decided as soon as certain)."""

    ratio: float

    def __post_init__(self) -> None:
        if isinstance(self.ratio, bool) or not isinstance(self.ratio, int | float):
            raise TypeError(f"Threshold ratio must be a number, got {self.ratio!r}")
        if not 0 < self.ratio <= 1:
            raise ValueError(f"Threshold ratio must be in (0, 1], got {self.ratio!r}")

    def decide(self, total: int, succeeded: int, failed: int, cancelled: int) -> Decision:
        remaining = total - succeeded - failed - cancelled
        if succeeded + remaining < self.ratio * total:
            return "failed"
        if remaining == 0:
            return "succeeded"
        return None

    def to_json(self) -> dict[str, Any]:
        return {"kind": "threshold", "ratio": self.ratio}


Strategy = FailFast | CollectAll | Threshold


def from_json(data: dict[str, Any]) -> Strategy:
    kind = data.get("kind")
    if kind == "fail_fast":
        return FailFast()
    if kind == "collect_all":
        return CollectAll()
    if kind == "threshold":
        return Threshold(data["ratio"])
    raise ValueError(f"unknown fan-out strategy {data!r}")
