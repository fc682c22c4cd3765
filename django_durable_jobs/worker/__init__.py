"""The worker process behind ``manage.py runjobs``.

Threads, each with one job, and the module that holds it:

- ``process``: :class:`Worker`, the lifecycle (register, signal handlers,
  graceful shutdown) and the in-process control (``pause()``, ``resume()``,
  ``stop()``);
- ``claimer``: the thread that called :meth:`Worker.run` claims batches of
  runnable jobs into free slots (``slots``) and hands them to
- ``executor``: one pipeline per job in a thread pool, sync and ``async def``
  handlers alike (``execution`` knows how to interrupt either), ending in at
  most one outcome (``outcomes``) for
- ``writer``: commits the outcomes of many jobs per transaction (group
  commit), then frees their slots and sends their signals;
- ``control``: renews leases, refreshes the registry row, applies pauses,
  reclaims dead workers' jobs, resumes queues whose pause expired, times out
  fan-outs and (with ``--scheduler``) fires schedules;
- ``listener``: on PostgreSQL, LISTEN for new work and control messages so
  that nothing waits for a poll.

Every write to jobs and fan-outs goes through :mod:`django_durable_jobs.state`.
"""

from __future__ import annotations

from .execution import Pool
from .process import Worker

__all__ = ["Pool", "Worker"]
