"""Progress a running handler reports: ``current_job().set_progress(done, total, message)``.

Internal module of the state machine. The write is fenced by the
execution's lease, like a checkpoint: an execution that no longer owns its
job (paused aggressively, cancelled, reclaimed) writes nothing. How often it
writes is decided by the caller (``JobContext`` throttles to one write per
second per job); this module checks the values and writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import validation
from ..exceptions import InvalidValue
from ..storage import engine

#: The longest progress message kept; a longer one is cut (its start and end kept).
MESSAGE_LENGTH = 1_000
#: ``progress_done`` and ``progress_total`` are ``bigint`` columns.
MAX_COUNT = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Progress:
    """One report: items done, of how many (None: unknown), and a word on what it is doing."""

    done: int
    total: int | None = None
    message: str = ""


def checked(done: Any, total: Any = None, message: Any = "") -> Progress:
    """The report as it will be stored; ``InvalidValue`` naming the problem otherwise."""
    validation.integer("done", done, 0, MAX_COUNT)
    if total is not None:
        validation.integer("total", total, 0, MAX_COUNT)
        if total < done:
            raise InvalidValue("total", f"{total} is less than done ({done})")
    validation.text("message", message)
    return Progress(done, total, validation.truncate_text(message, MESSAGE_LENGTH))


def save(using: str, job_id: int, lease: str, progress: Progress) -> bool:
    """Store ``progress`` if this execution still owns the job; False if it wrote nothing."""
    return engine(using).save_progress(job_id, lease, progress.done, progress.total, progress.message)
