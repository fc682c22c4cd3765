"""The ``/metrics`` view (see :mod:`django_durable_jobs.urls`)."""

from __future__ import annotations

import hmac

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import metrics as fleet
from .conf import jobs_settings

#: Who may read the metrics without the bearer token.
PERMISSION = "durable_jobs.view_job"


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """The fleet's metrics in Prometheus' text format.

    Allowed with ``Authorization: Bearer <METRICS_TOKEN>`` (when the setting
    is set), or to a logged-in user with the ``durable_jobs.view_job``
    permission. Otherwise 401 (no credentials, or a wrong token) or 403 (a
    user without the permission).
    """
    refused = _refused(request)
    if refused is not None:
        return refused
    if not fleet.available():
        return HttpResponse(fleet.MISSING, status=501, content_type="text/plain; charset=utf-8")
    body, content_type = fleet.render()
    return HttpResponse(body, content_type=content_type)


def _refused(request: HttpRequest) -> HttpResponse | None:
    token = jobs_settings.METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        if token and hmac.compare_digest(given.strip().encode(), token.encode()):
            return None
        return _unauthorized("invalid token", 'error="invalid_token"')
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return _unauthorized("log in, or send Authorization: Bearer <METRICS_TOKEN>")
    if not user.has_perm(PERMISSION):
        return HttpResponse(
            f"Forbidden: the {PERMISSION} permission is needed.\n",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    return None


def _unauthorized(why: str, error: str = "") -> HttpResponse:
    response = HttpResponse(f"Unauthorized: {why}.\n", status=401, content_type="text/plain; charset=utf-8")
    response["WWW-Authenticate"] = f'Bearer realm="durable_jobs"{", " + error if error else ""}'
    return response
