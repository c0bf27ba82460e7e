"""Helpers of the fault tests: real worker processes that can be SIGKILLed, locks held by the test from another
connection to stop a worker at a chosen point, and waiting until a session of the test database waits for a lock."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection, transaction

from tests.conftest import worker_env
from tests.support import start_celery_worker, stop_process


class Workers:
    """Solo-pool Celery workers on every queue, each in its own process so it can be killed like a lost pod; the
    ones still running are stopped when the test ends."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        proc = start_celery_worker(self.log_dir / f"{name}.log", name=name, env=worker_env(env))
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.started:
            stop_process(proc)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    """Start workers with ``workers.start(name, env)``; every queue of this run's key space is emptied first."""
    purge_queues()
    started = Workers(tmp_path)
    yield started
    started.stop_all()


def purge_queues() -> None:
    """Drop messages an earlier test of this key space left in the queues (they name rows that no longer exist)."""
    from ecap_site.celery import QUEUES
    from ecap_site.celery import app as celery_app

    with celery_app.connection_for_write() as conn:
        channel = conn.default_channel
        for name in QUEUES:
            channel.queue_purge(name)


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process (nothing of it runs after this returns)."""
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=20)


def sessions_waiting_for_a_lock(table: str = "") -> int:
    """How many sessions of the test database wait for a lock (with ``table``, in a statement naming it)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
            "AND query LIKE %s",
            [f"%{table}%"],
        )
        return int(cursor.fetchone()[0])


def end_sessions_waiting_for_a_lock() -> int:
    """End the server sessions of the test database that wait for a lock: a killed worker's statement that was
    still waiting ends with it, as if it had never been sent (the server would otherwise run it, and commit it in
    autocommit mode, once the lock is released). Returns how many were ended."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return int(cursor.fetchone()[0])


class _Release(Exception):
    pass


class Hold:
    """``work`` (rows locked, or a row inserted so that a conflicting insert waits) run in a transaction of another
    connection, held open until ``release`` and then rolled back: what it wrote never existed."""

    def __init__(self, work: Callable[[], object]) -> None:
        self._ready, self._release = threading.Event(), threading.Event()
        self._failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._hold, args=(work,), daemon=True)
        self._thread.start()
        assert self._ready.wait(20), "the lock was not taken"
        if self._failure:
            raise self._failure[0]

    def _hold(self, work: Callable[[], object]) -> None:
        try:
            with transaction.atomic():
                work()
                self._ready.set()
                self._release.wait(90)
                raise _Release
        except _Release:
            pass
        except BaseException as exc:
            self._failure.append(exc)
            self._ready.set()
        finally:
            connection.close()

    def release(self) -> None:
        self._release.set()
        self._thread.join(20)


@contextmanager
def held_in_transaction(work: Callable[[], object]) -> Iterator[None]:
    """A ``Hold`` of ``work`` for the duration of the block."""
    hold = Hold(work)
    try:
        yield
    finally:
        hold.release()
