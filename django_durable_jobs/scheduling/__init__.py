"""Schedules: run a job every N seconds, daily, weekly or on a cron expression.

    schedule(cleanup, every(minutes=5))
    schedule("daily-report", daily(9, 0))          # 09:00 in settings.TIME_ZONE
    schedule("backup", weekly("sun", 2, 0))
    schedule("hourly-check", cron("0 * * * *"))
    @job(schedule=every(seconds=30))               # the same, as a decorator option

Two modules, imported on their own (this package imports nothing, so that
importing :mod:`.specs` stays light):

- :mod:`.specs`: when a schedule fires (``every()``, ``daily()``,
  ``weekly()``, ``cron()``). Pure date arithmetic: no models, no registry.
- :mod:`.firing`: schedules bound to jobs (``schedule()``) and
  :func:`~.firing.run_due`, which ``runjobs --scheduler`` calls.
- :mod:`.rows`: the ``Schedule`` rows: synchronised from the code, fired
  under their policies, paused and resumed.
- :mod:`.declared` (a schedule as the code declares it) and :mod:`.manual`
  (``run_schedule_now``, the admin's "run now").

The rules ``run_due`` follows:

- **One job per fire time of each schedule, however many schedulers run.**
  Each fire is decided with the schedule's row locked, and a fired job stores
  its schedule and fire time (``Job.schedule``, ``Job.scheduled_for``), which
  the database keeps unique; a scheduler that loses a race creates nothing.
- **Missed fires follow ``catch_up``**: ``"latest"`` (the default) enqueues
  only the latest fire time at or before "now", so a scheduler that was down
  for three hours runs an hourly job once, not three times; ``"skip"`` drops
  missed times; ``"all"`` enqueues each within ``catch_up_window``.
- **A schedule that has never fired fires at once** for its latest past fire
  time (a new ``daily(9)`` deployed at 15:00 runs once right away), under
  ``"latest"`` and ``"all"``.
- ``overlap`` decides when the last fire's job is unfinished, ``while_paused``
  when the job's queue or job type is paused (see the README).
- A fire that cannot be enqueued yet (its job is not registered, or an
  unfinished job holds its ``unique_key``) is tried again at the next look.

Fire times (every, daily and weekly, cron, and daylight saving time) are
described in :mod:`.specs`.
"""
