"""The Django admin: operate jobs, queues, job types, schedules and workers.

Every state change goes through the public API (``pause_job``, ``pause_queue``,
``pause_job_type``, ``pause_schedule``, ``pause_worker`` and the rest, from
the package root), so a pause from the admin is the same pause as from Python
or the command line: same checks, same signals. Rows are never edited by hand: object pages are
view-only, and the model's *change* permission gates the operate buttons and
bulk actions instead of a form.

Each button is a small POST form to a view added by ``get_urls`` and wrapped
in ``admin_site.admin_view`` (login, staff, CSRF). A GET to such a view
changes nothing (405). Outcomes, good or bad, are reported as admin messages
in the words of the error the transition raised ("job 5 is already paused").
Rows are read from ``DURABLE_JOBS["DATABASE"]``.

Modules: ``common`` (shared helpers and base admins), ``jobs`` (the Jobs
list and its bulk actions), ``job_page`` (one job's page), ``values`` (large
values shortened, downloads), ``guard`` (input checked before it reaches a
query), ``pause_pages`` (what the Queues, Job types and Schedules pages
share), ``queues``, ``job_types``, ``schedules`` and ``workers`` (their
pages), ``dashboard`` (the Dashboard page, over ``JobStat``) and ``charts``
(its SVG charts).
"""

from __future__ import annotations

from django.contrib import admin

from ..models import Job, JobStat, JobTypeState, QueueState, Schedule, Worker
from .common import summary
from .dashboard import DashboardAdmin
from .job_types import JobTypeAdmin
from .jobs import JobAdmin
from .queues import QueueAdmin
from .schedules import ScheduleAdmin
from .workers import WorkerAdmin

__all__ = [
    "DashboardAdmin",
    "JobAdmin",
    "JobTypeAdmin",
    "QueueAdmin",
    "ScheduleAdmin",
    "WorkerAdmin",
    "summary",
]

admin.site.register(Job, JobAdmin)
admin.site.register(QueueState, QueueAdmin)
admin.site.register(JobTypeState, JobTypeAdmin)
admin.site.register(Schedule, ScheduleAdmin)
admin.site.register(Worker, WorkerAdmin)
admin.site.register(JobStat, DashboardAdmin)
