"""Fixtures of the fault tests: a private ``redis-server`` and a private PostgreSQL cluster, each on its own free
loopback port, that a test may stop (SIGTERM, SIGKILL, ``pg_ctl stop``) and start again on the same port.

The servers are started the way ``scripts/test_services.py`` starts its throwaway ones (its helpers are loaded from
the script), so the shared servers of the suite are never touched.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


def _load_test_services() -> ModuleType:
    """``scripts/test_services.py`` as a module (it is a standalone script, not a package)."""
    name = "ecap_scripts_test_services"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "test_services.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


services: Any = _load_test_services()


class PrivateRedis:
    """A ``redis-server`` child on a fixed free port, without persistence: stopping it loses every key and queue."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port: int = services.free_port()
        self.log_file = base / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://{HOST}:{self.port}/{db}"

    def start(self) -> None:
        """Start the server (again) on its port; return once it answers PING."""
        server = shutil.which("redis-server")
        if server is None:
            pytest.fail("redis-server is not installed")
        command = [server, "--port", str(self.port), *services.REDIS_OPTIONS, "--dir", str(self.base)]
        with self.log_file.open("ab") as out:
            self.proc = subprocess.Popen(
                command, cwd=self.base, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        proc = self.proc

        def ready() -> bool:
            if proc.poll() is not None:
                raise services.ServiceError(f"redis-server exited:\n{services.read_tail(self.log_file)}")
            return bool(services.redis_answers(self.port))

        services.wait_until(ready, services.REDIS_READY_TIMEOUT, f"redis on {HOST}:{self.port}")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop the server with ``sig``; return once the process is gone and the port refuses connections."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        assert not services.redis_answers(self.port)


class PrivateCluster:
    """A throwaway PostgreSQL cluster (``initdb``) on a fixed free port, started and stopped with ``pg_ctl``."""

    def __init__(self, base: Path) -> None:
        bindir = services.find_pg_bindir()
        if bindir is None:
            pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self.bindir: Path = bindir
        self.base = base
        self.data = base / "data"
        self.log_file = base / "postgres.log"
        self.port: int = services.free_port()

    def url(self, name: str = "ecap") -> str:
        return f"postgres://{services.PG_USER}@{HOST}:{self.port}/{name}"

    def _pg_ctl(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bindir / "pg_ctl"), "-D", str(self.data), *args]
        services.run_checked(
            services.as_postgres_user(command),
            f"pg_ctl {args[-1]}",
            cwd=self.base,
            timeout=timeout,
            log_file=self.log_file,
        )

    def init(self) -> None:
        """Create the cluster and its ``ecap`` database, and leave it running."""
        if services.is_root():
            user = services.ensure_system_user(services.PG_USER)
            os.chown(self.base, user.pw_uid, user.pw_gid)
        initdb = [str(self.bindir / "initdb"), "-D", str(self.data), *services.INITDB_FLAGS]
        services.run_checked(services.as_postgres_user(initdb), "initdb", cwd=self.base, timeout=180)
        self.start()
        services.create_database(self.bindir, self.base, self.port)

    def start(self) -> None:
        options = (
            f"-c listen_addresses={HOST} -p {self.port} -k {shlex.quote(str(self.base))} {services.PG_SERVER_OPTIONS}"
        )
        self._pg_ctl("-l", str(self.log_file), "-o", options, "-w", "-t", "30", "start")

    def stop(self) -> None:
        """Fast shutdown: open sessions are disconnected, the port refuses connections until ``start``."""
        self._pg_ctl("-m", "fast", "-w", "-t", "30", "stop")

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every session is disconnected, the server is back on the same port."""
        self._pg_ctl("-l", str(self.log_file), "-m", "fast", "-w", "-t", "30", "restart")

    @property
    def answering(self) -> bool:
        return bool(services.postgres_answers(self.port))

    def remove(self) -> None:
        services.stop_postgres(self.bindir, self.base, self.data)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A running private Redis, stopped and removed after the test."""
    base = Path(services.make_tempdir("faults-redis"))
    server = PrivateRedis(base)
    try:
        server.start()
        yield server
    finally:
        server.stop(signal.SIGKILL)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def redis_for_test(private_redis: PrivateRedis, settings: Any) -> Iterator[PrivateRedis]:
    """Point this process's cache, readiness check and Celery publisher (broker and results) at the private Redis
    for the test; workers started with ``env={"REDIS_URL": private_redis.url()}`` use it too."""
    from apps.common.testing import use_broker
    from ecap_site.celery import app as celery_app

    # Saved before the settings change: the app's configuration may read through to Django's settings.
    saved_broker, saved_backend = celery_app.conf.broker_url, celery_app.conf.result_backend
    url = private_redis.url()
    settings.REDIS_URL = url
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": url}}
    settings.CELERY_BROKER_URL = settings.CELERY_RESULT_BACKEND = url
    celery_app.conf.result_backend = url
    forget_result_backend(celery_app)
    use_broker(url)
    try:
        yield private_redis
    finally:
        use_broker(saved_broker)
        celery_app.conf.result_backend = saved_backend
        forget_result_backend(celery_app)
        resume_publishers()


def forget_result_backend(celery_app: Any) -> None:
    """Make the app build its result backend again from ``result_backend`` on next use: it keeps the first one it
    made (shared by every thread when the backend is thread-safe, as Redis's is, else one per thread)."""
    celery_app._backend_cache = None
    celery_app._local = threading.local()


def resume_publishers() -> None:
    """Let this process's intake publishers publish at once again (they pause after a broker failure)."""
    from apps.incidents import dispatch as alert_dispatch
    from apps.lineage import dispatch as lineage_dispatch

    alert_dispatch.resume()
    lineage_dispatch.resume()


@pytest.fixture(scope="module")
def private_cluster() -> Iterator[PrivateCluster]:
    """A running private PostgreSQL cluster with an empty ``ecap`` database, removed after the module."""
    base = Path(services.make_tempdir("faults-pg"))
    cluster = PrivateCluster(base)
    try:
        cluster.init()
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            cluster.remove()
        shutil.rmtree(base, ignore_errors=True)
