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
