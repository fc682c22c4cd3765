"""What the admin reads, and from where: its own ordering, the shared liveness rule,
and the database named by ``DURABLE_JOBS["DATABASE"]``."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings
from django.urls import reverse

from django_durable_jobs.models import FanOut, Job, Worker

from ..factories import FanOutFactory, JobFactory, WorkerFactory, make_children

pytestmark = pytest.mark.django_db

JOBS = "admin:durable_jobs_job_changelist"
QUEUES = "admin:durable_jobs_queuestate_changelist"
WORKERS = "admin:durable_jobs_worker_changelist"


def listed(client: Client, name: str, query: str = "") -> list[object]:
    response = client.get(reverse(name) + query)
    assert response.status_code == 200
    return [row.pk for row in response.context["cl"].result_list]


def test_jobs_are_listed_newest_first_whatever_the_models_ordering(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = JobFactory.create_batch(3)
    newest_first = [job.pk for job in reversed(jobs)]
    assert listed(admin_client, JOBS) == newest_first
    for ordering in ([], ["id"]):
        monkeypatch.setattr(Job._meta, "ordering", ordering)
        assert listed(admin_client, JOBS) == newest_first, ordering
    assert listed(admin_client, JOBS, "?o=1") == sorted(newest_first)  # a clicked column still sorts


def test_job_page_lists_fan_outs_and_children_in_index_order_whatever_the_models_ordering(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = FanOutFactory()
    second = FanOutFactory(parent=first.parent)
    children = make_children(first, 3)
    monkeypatch.setattr(Job._meta, "ordering", ["-id"])
    monkeypatch.setattr(FanOut._meta, "ordering", ["-index"])
    response = admin_client.get(reverse("admin:durable_jobs_job_change", args=[first.parent.pk]))
    fanouts = response.context["fanouts"]
    assert [entry["fanout"].pk for entry in fanouts] == [first.pk, second.pk]
    assert [child.pk for child in fanouts[0]["children"]] == [child.pk for child in children]


def test_workers_filter_by_the_shared_liveness_rule(admin_client: Client) -> None:
    alive = WorkerFactory(alive=True)
    dead = WorkerFactory(dead=True)
    stopped = WorkerFactory(stopped=True)
    assert set(Worker.objects.alive().values_list("pk", flat=True)) == {alive.pk}
    assert set(listed(admin_client, WORKERS, "?alive=yes")) == {alive.pk}
    assert set(listed(admin_client, WORKERS, "?alive=no")) == {dead.pk, stopped.pk}
    assert listed(admin_client, WORKERS) == [stopped.pk, alive.pk, dead.pk]  # newest heartbeat first


@pytest.mark.parametrize("page", [JOBS, QUEUES, WORKERS])
def test_pages_read_the_job_tables_database(admin_client: Client, page: str) -> None:
    """Every page reads through ``DURABLE_JOBS["DATABASE"]``: an alias that does not exist is refused."""
    JobFactory()
    WorkerFactory()
    with override_settings(DURABLE_JOBS={"DATABASE": "jobs_elsewhere"}):
        with pytest.raises(ImproperlyConfigured, match="jobs_elsewhere"):
            admin_client.get(reverse(page))


def test_job_page_reads_the_job_tables_database(admin_client: Client) -> None:
    job = JobFactory()
    url = reverse("admin:durable_jobs_job_change", args=[job.pk])
    assert admin_client.get(url).status_code == 200
    with override_settings(DURABLE_JOBS={"DATABASE": "jobs_elsewhere"}):
        with pytest.raises(ImproperlyConfigured, match="jobs_elsewhere"):
            admin_client.get(url)
