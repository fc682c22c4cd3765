"""What the migrations that create the engine's PostgreSQL functions run.

Not a migration: the loader skips modules whose names start with ``_``. A
function's SQL comes from the engine (which also calls it), so both share one
definition; a later change to it re-creates the function in a new migration.
The engine is imported when the migration runs, not when it is loaded.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any


def create_function(schema_editor: Any, method: str) -> None:
    """On PostgreSQL, run the ``CREATE FUNCTION`` the engine's ``method()`` returns."""
    if schema_editor.connection.vendor == "postgresql":
        from django_durable_jobs.storage import engine

        schema_editor.execute(getattr(engine(schema_editor.connection.alias), method)())


def drop_function(schema_editor: Any, signature: str) -> None:
    """On PostgreSQL, drop the function named by ``signature``: ``"module:CONSTANT"`` of its signature."""
    if schema_editor.connection.vendor == "postgresql":
        module, name = signature.split(":")
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {getattr(import_module(module), name)}")
