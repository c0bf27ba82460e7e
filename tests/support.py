"""Helpers shared by the tests and the benchmarks: free loopback ports, child processes (HTTP servers, Celery
workers) started and stopped, percentiles."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKER_QUEUES = "critical,default,spark,acks_late"


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(sorted_values: list[float], p: float) -> float:
    """The ``p`` quantile (0..1) of already sorted values, nearest rank."""
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


def wait_for_http(proc: subprocess.Popen[bytes], port: int, log: Path, *, timeout: float = 60) -> None:
    """Wait until the server ``proc`` answers 200 on ``/healthz`` at ``port``; fail the test with the end of its log
    if it exits or does not answer within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    proc.kill()
    pytest.fail(f"server did not start: {log.read_text()[-2000:]}")


def start_celery_worker(log_file: Path, *, name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A real solo-pool Celery worker on every queue in its own process (so it can be killed like a lost pod),
    returned once it says it is ready; its output is appended to ``log_file``."""
    command = [
        sys.executable, "-m", "celery", "-A", "ecap_site", "worker", "--pool=solo", "--loglevel=INFO",
        "-Q", WORKER_QUEUES, "--without-mingle", "--without-gossip",
        "-n", f"{name}-{os.getpid()}-{time.monotonic_ns()}@%h",
    ]  # fmt: skip
    ready_before = log_file.read_bytes().count(b"ready.") if log_file.exists() else 0
    with log_file.open("ab") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while log_file.read_bytes().count(b"ready.") <= ready_before:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"worker {name} did not start:\n{log_file.read_text()[-3000:]}")
        time.sleep(0.2)
    return proc


def stop_process(proc: subprocess.Popen[bytes], *, timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
