from django.db import models


class SideEffect(models.Model):
    """One row per job run: a unique key proves no job ran twice."""

    key = models.CharField(max_length=200, unique=True)
    worker_pid = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.key


class StepLog(models.Model):
    """Every execution of a workflow step, to prove steps are not re-run."""

    job_id = models.BigIntegerField()
    step = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.step} of job {self.job_id}"


class SignalLog(models.Model):
    """A signal received, in the process that sent it (see demo.signal_log)."""

    name = models.CharField(max_length=40)
    job_id = models.BigIntegerField(null=True)
    pid = models.IntegerField()
    detail = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.name} {self.job_id or self.detail}"


class Probe(models.Model):
    """How many handlers of one key run right now, and the most ever seen (limit tests)."""

    key = models.CharField(max_length=100, primary_key=True)
    running = models.IntegerField(default=0)
    peak = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.key}: {self.running} running, peak {self.peak}"
