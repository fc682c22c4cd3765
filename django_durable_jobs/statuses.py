"""Job statuses and pause modes: plain enums, importable without the models."""

from __future__ import annotations

from django.db import models


class Status(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
UNFINISHED = (Status.PENDING, Status.RUNNING, Status.WAITING, Status.PAUSED)


class PauseMode(models.TextChoices):
    GRACEFUL = "graceful"
    AGGRESSIVE = "aggressive"
