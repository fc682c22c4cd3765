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

The rules ``run_due`` follows:

- **One job per fire time, however many schedulers run.** A fired job stores
  its fire time in ``Job.scheduled_for`` and the database refuses a second
  row with the same ``(name, scheduled_for)``; the scheduler that loses that
  race simply creates nothing.
- **Missed fires are coalesced.** Only the latest fire time at or before
  "now" is ever enqueued, and only if the job has no fired row at or after
  it. A scheduler that was down for three hours runs an hourly job once, not
  three times.
- **A schedule that has never fired fires at once** for its latest past fire
  time (a new ``daily(9)`` deployed at 15:00 runs once right away). The rule
  needs no state outside the job table, so every process agrees on it.
- Scheduled jobs are enqueued with no arguments.

Fire times (every, daily and weekly, cron, and daylight saving time) are
described in :mod:`.specs`.
"""
