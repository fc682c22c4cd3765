"""Which errors a worker takes for a lost connection (the job runs again) and which for the job's own."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction

from django_durable_jobs.models import Job
from django_durable_jobs.worker.health import is_connection_error

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_session_ended_inside_a_transaction_is_a_lost_connection(other_session: Any) -> None:
    """Django replaces the connection whose rollback failed: only the SQLSTATE is left to tell.

    A workflow's ``fan_out()`` writes in such a block; the fault test saw its
    parent fail, its attempt spent, when a restart landed there.
    """
    with pytest.raises(OperationalError) as caught:
        with transaction.atomic():
            Job.objects.count()  # the transaction has begun
            ended = connection.connection
            # What a server restart does to this session, done from another one.
            other_session.execute("SELECT pg_terminate_backend(%s)", [ended.info.backend_pid])
            Job.objects.count()
    assert ended.closed and connection.connection is not ended, "Django reconnected when it left the block"
    assert connection.is_usable(), "so no broken connection is left to see"
    assert caught.value.__cause__.sqlstate == "57P01"  # admin_shutdown
    assert is_connection_error(caught.value)


def test_the_jobs_own_database_errors_are_not_a_lost_connection(is_postgres: bool) -> None:
    with pytest.raises(DatabaseError) as caught:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT * FROM no_such_table")
    assert not is_connection_error(caught.value)
    with pytest.raises(IntegrityError) as caught:
        Job.objects.create(name=None)
    assert not is_connection_error(caught.value)
    if is_postgres:
        with pytest.raises(OperationalError) as caught:  # a statement timeout: SQLSTATE 57014
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL statement_timeout = 1")
                    cursor.execute("SELECT pg_sleep(1)")
        assert caught.value.__cause__.sqlstate == "57014"
        assert not is_connection_error(caught.value)
