"""Jobs of the process pool tests (tests/e2e/test_process_pool.py)."""

import os
import signal
import time
from pathlib import Path

from django_durable_jobs import current_job, job


@job("pool.pid")
def pid() -> int:
    """The pid of the process that ran the handler."""
    return os.getpid()


@job("pool.apid")
async def apid() -> int:
    """The same, from an ``async def`` handler."""
    return os.getpid()


@job("pool.sleep_forever")
def sleep_forever(path: str) -> None:
    """Write the pid, sleep in one C call, and write when the sleep was stopped (if it returns)."""
    Path(path).write_text(f"{os.getpid()}\n")
    try:
        time.sleep(10**6)
    finally:
        with open(path, "a") as report:
            report.write(f"{time.time()!r}\n")


@job("pool.deaf")
def deaf(path: str) -> None:
    """Blocked as in a C call that never returns to Python: the interruption never lands.

    SIGUSR1 (the worker's interruption) and SIGTERM are blocked; only SIGKILL stops it.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGTERM})
    Path(path).write_text(f"{os.getpid()}\n")
    time.sleep(10**6)


@job("pool.stuck_in_c")
def stuck_in_c(path: str) -> None:
    """As a C call that never returns to Python: SIGUSR1 (the worker's interruption) never lands.

    SIGTERM keeps its default action, so the process ends when it comes.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    Path(path).write_text(f"{os.getpid()}\n")
    time.sleep(10**6)


@job("pool.die_once", retries=1)
def die_once() -> int:
    """Its first attempt kills its own process with SIGKILL (as the OOM killer would)."""
    if current_job().attempt == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return current_job().attempt


@job("pool.slow_first", retries=1)
def slow_first(seconds: float) -> int:
    """Its first attempt sleeps ``seconds`` (past its timeout), the next returns at once."""
    if current_job().attempt == 1:
        time.sleep(seconds)
    return current_job().attempt
