"""URLs of django-durable-jobs: under ``path("jobs/", include(...))`` it serves ``jobs/metrics``."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "durable_jobs"

urlpatterns = [path("metrics", views.metrics, name="metrics")]
