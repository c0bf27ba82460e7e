"""The supervisor of one local run: ``supervise.py [--detach] [--timeout S] [--grace S] WORKDIR -- COMMAND…``.

It starts COMMAND in its own process group with stdout/stderr captured in WORKDIR, enforces the timeout (SIGTERM to
the group, then SIGKILL after the grace period), stops the run on SIGTERM (that is how ``cancel`` reaches it) and
writes ``exit.json`` when the command is gone. Files in WORKDIR, all written atomically:

``supervisor.pid``, ``pid`` (the command's pid, which is its process group), ``started.json``, ``stdout.log``,
``stderr.log``, ``exit.json`` (``exit_code``, ``signal``, ``timed_out``, ``cancelled``, ``started_at``,
``finished_at``, ``error``). ``cancel.json`` is written by whoever cancels.

Standard library only, so it runs as ``python -I supervise.py`` with nothing of the project on its path.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SUPERVISOR_PID = "supervisor.pid"
CHILD_PID = "pid"
STARTED = "started.json"
EXIT = "exit.json"
CANCEL = "cancel.json"
STDOUT = "stdout.log"
STDERR = "stderr.log"
POLL_INTERVAL = 0.2


def now_iso() -> str:
    """The current time, aware, as ISO 8601."""
    return datetime.now(UTC).isoformat()


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so a reader in another process sees the old or the new file, never half."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w") as out:
        out.write(text)
    os.replace(temporary, path)


def write_once(path: Path, data: dict[str, Any]) -> bool:
    """Create ``path`` with ``data`` as JSON unless it exists; True when this call wrote it (the first writer wins)."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as out:
            json.dump(data, out, sort_keys=True)
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(temporary)
    return True


def signal_group(pgid: int, signum: int) -> None:
    """Send a signal to a process group that may already be gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of a process group, from /proc; empty where there is no /proc."""
    members = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # it ended while we looked
        state, group = fields[0], int(fields[2])
        if group == pgid and state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def exited(pid: int) -> bool:
    """True once the child has exited; it stays unreaped (a zombie keeps its pid, so its group id is not reused)."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


class Supervisor:
    """Runs one command to its end, stopping it on timeout or on request."""

    def __init__(self, workdir: Path, command: list[str], timeout: float | None, grace: float) -> None:
        self.workdir = workdir
        self.command = command
        self.timeout = timeout
        self.grace = grace
        self.stop_reason: str | None = None
        self.started_at: str | None = None

    def request_cancel(self, signum: int, frame: object) -> None:
        self.stop_reason = self.stop_reason or "cancelled"

    def start(self) -> subprocess.Popen[bytes]:
        with open(self.workdir / STDOUT, "ab") as out, open(self.workdir / STDERR, "ab") as err:
            child = subprocess.Popen(  # noqa: S603 - an argument list built by the backend, no shell
                self.command,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own process group, which timeout and cancel kill as a whole
            )
        write_atomic(self.workdir / CHILD_PID, f"{child.pid}\n")
        self.started_at = now_iso()
        write_atomic(self.workdir / STARTED, json.dumps({"pid": child.pid, "started_at": self.started_at}))
        return child

    def wait(self, child: subprocess.Popen[bytes]) -> dict[str, Any]:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while not exited(child.pid):
            if self.stop_reason is None and deadline is not None and time.monotonic() >= deadline:
                self.stop_reason = "timeout"
            if self.stop_reason is not None:
                self.stop(child)
                break
            time.sleep(POLL_INTERVAL)
        self.clear_group(child.pid)
        returncode = child.wait()
        return {
            "exit_code": returncode if returncode >= 0 else 128 - returncode,
            "signal": signal.Signals(-returncode).name if returncode < 0 else None,
            "timed_out": self.stop_reason == "timeout",
            "cancelled": self.stop_reason == "cancelled" or (self.workdir / CANCEL).exists(),
            "started_at": self.started_at,
            "finished_at": now_iso(),
            "error": "",
        }

    def clear_group(self, pgid: int) -> None:
        """Kill whatever the job left in its group (Python workers, a JVM) and wait until it is gone, so that a
        finished run never leaves processes behind. The leader is not reaped yet, so its pgid cannot be reused."""
        deadline = time.monotonic() + max(self.grace, 5.0)
        signal_group(pgid, signal.SIGKILL)
        while group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
            signal_group(pgid, signal.SIGKILL)

    def stop(self, child: subprocess.Popen[bytes]) -> None:
        signal_group(child.pid, signal.SIGTERM)
        end = time.monotonic() + self.grace
        while time.monotonic() < end and not exited(child.pid):
            time.sleep(POLL_INTERVAL)
        signal_group(child.pid, signal.SIGKILL)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="supervise.py", description="Run and supervise one local Spark run.")
    parser.add_argument("--detach", action="store_true", help="Fork; return once the command has started.")
    parser.add_argument("--timeout", type=float, default=None, help="Seconds before the run is stopped.")
    parser.add_argument("--grace", type=float, default=10.0, help="Seconds between SIGTERM and SIGKILL.")
    parser.add_argument("workdir")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    if options.command[:1] == ["--"]:
        options.command = options.command[1:]
    if not options.command:
        parser.error("no command to run")
    return options


def main(argv: list[str] | None = None) -> int:
    """Supervise the run; with ``--detach`` the calling process returns 0 once the command started."""
    options = parse(sys.argv[1:] if argv is None else argv)
    workdir = Path(options.workdir).resolve()
    ready: int | None = None
    if options.detach:
        read_end, ready = os.pipe()
        if os.fork() > 0:
            # The caller waits for this process only; the supervisor lives on as an orphan nobody has to reap.
            os.close(ready)
            started = os.read(read_end, 1)
            os._exit(0 if started == b"1" else 1)
        os.close(read_end)
    supervisor = Supervisor(workdir, options.command, options.timeout, options.grace)
    signal.signal(signal.SIGTERM, supervisor.request_cancel)
    write_atomic(workdir / SUPERVISOR_PID, f"{os.getpid()}\n")
    try:
        child = supervisor.start()
    except OSError as exc:
        write_once(
            workdir / EXIT,
            {
                "exit_code": 127,
                "signal": None,
                "timed_out": False,
                "cancelled": False,
                "started_at": None,
                "finished_at": now_iso(),
                "error": f"could not start {options.command[0]}: {exc}",
            },
        )
        return 127
    finally:
        if ready is not None:
            os.write(ready, b"1")
            os.close(ready)
    result = supervisor.wait(child)
    write_once(workdir / EXIT, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
