"""Run a command with a real PostgreSQL and a real Redis reachable.

Usage::

    python scripts/test_services.py -- <command> [args...]
    python scripts/test_services.py --print-env

For each service the first option that works is used:

* PostgreSQL: ``DATABASE_URL`` from the environment, else a server already
  answering on 127.0.0.1:5432, else a throwaway cluster (``initdb`` into a
  temporary directory, started with ``pg_ctl`` on a free loopback port).
* Redis: ``REDIS_URL`` from the environment, else a server answering ``PING``
  on 127.0.0.1:6379, else a throwaway ``redis-server`` child on a free port.

Missing server packages are installed with ``apt-get`` when running as root.
The command runs with ``DATABASE_URL`` and ``REDIS_URL`` exported; its exit
code becomes this script's exit code. Anything started here is stopped and its
temporary directory removed afterwards, also on Ctrl-C and SIGTERM.

``--print-env`` only reports the services that are already available as
``export`` lines (for ``eval``); it exits 2 if something would need starting.

Environment overrides for the probed ports (mainly to exercise the throwaway
path): ``TEST_SERVICES_PG_PORT`` (default 5432) and
``TEST_SERVICES_REDIS_PORT`` (default 6379).

Standard library only: this runs before the project's virtualenv exists.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

HOST = "127.0.0.1"
DB_NAME = "ecap"
PG_USER = "postgres"
PG_SSL_REQUEST = b"\x00\x00\x00\x08\x04\xd2\x16\x2f"
PG_READY_TIMEOUT = 30.0
REDIS_READY_TIMEOUT = 20.0
PROBE_TIMEOUT = 1.0
STOP_TIMEOUT = 30
PREFIX = "test-services"
INITDB_FLAGS = ("-A", "trust", "-U", PG_USER, "--no-sync", "-E", "UTF8", "--locale=C.UTF-8")
# Throwaway servers: no persistence/durability, enough connections for parallel test runs.
REDIS_OPTIONS = ("--bind", HOST, "--save", "", "--appendonly", "no", "--daemonize", "no")
PG_SERVER_OPTIONS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"

USAGE = """\
usage: python scripts/test_services.py -- <command> [args...]
       python scripts/test_services.py --print-env

Runs <command> with DATABASE_URL and REDIS_URL pointing at a reachable
PostgreSQL and Redis, starting throwaway servers when needed.
Probed ports: TEST_SERVICES_PG_PORT (default 5432), TEST_SERVICES_REDIS_PORT (default 6379).
"""


class ServiceError(RuntimeError):
    """A service could not be found, installed or started."""


@dataclass(frozen=True)
class Service:
    """A service the command will use."""

    name: str
    url: str
    where: str
    how: str


# --------------------------------------------------------------------------- output


def log(message: str) -> None:
    print(f"{PREFIX}: {message}", file=sys.stderr, flush=True)


def mask_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``."""
    masked = re.sub(r"(?i)(password=)[^&#]*", r"\1***", url)
    try:
        parts = urlsplit(masked)
    except ValueError:
        return re.sub(r"://[^@/]*@", "://***@", masked)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return masked
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))


def tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def read_tail(path: Path, lines: int = 20) -> str:
    try:
        return tail(path.read_text(errors="replace"), lines)
    except OSError:
        return ""


# --------------------------------------------------------------------------- probing


def probe_port(env_name: str, default: int) -> int:
    value = os.environ.get(env_name, "").strip()
    if not value:
        return default
    try:
        port = int(value)
    except ValueError:
        raise ServiceError(f"{env_name}={value!r} is not a port number") from None
    if not 0 < port < 65536:
        raise ServiceError(f"{env_name}={value!r} is not a port number")
    return port


def exchange(port: int, payload: bytes, expected_len: int) -> bytes | None:
    """Connect to ``HOST:port``, send ``payload``, return up to ``expected_len`` bytes (None if unreachable)."""
    try:
        with socket.create_connection((HOST, port), timeout=PROBE_TIMEOUT) as sock:
            sock.sendall(payload)
            data = b""
            while len(data) < expected_len:
                chunk = sock.recv(expected_len - len(data))
                if not chunk:
                    break
                data += chunk
            return data
    except OSError:
        return None


def postgres_answers(port: int) -> bool:
    """True if a PostgreSQL server answers an SSLRequest on ``HOST:port``."""
    return exchange(port, PG_SSL_REQUEST, 1) in (b"S", b"N")


def redis_answers(port: int) -> bool:
    """True if a Redis server answers ``PING`` with ``+PONG`` on ``HOST:port``."""
    reply = exchange(port, b"PING\r\n", 7)
    return reply is not None and reply.startswith(b"+PONG")


def wait_until(check: Callable[[], bool], timeout: float, what: str, detail: Callable[[], str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            extra = detail() if detail else ""
            raise ServiceError(f"{what} not ready after {timeout:.0f}s" + (f":\n{extra}" if extra else ""))
        time.sleep(0.2)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


# --------------------------------------------------------------------------- processes


def is_root() -> bool:
    return os.geteuid() == 0


def apt_install(package: str, what: str, env_var: str) -> None:
    apt = shutil.which("apt-get")
    if not is_root() or apt is None:
        raise ServiceError(
            f"{what} is not installed and cannot be installed automatically (that needs root and apt-get); "
            f"install the {package!r} package or set {env_var}"
        )
    log(f"{what} not found, installing {package} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (["update"], ["install", "-y", "--no-install-recommends", package]):
        result = subprocess.run([apt, *args], env=env, stdout=sys.stderr, stderr=sys.stderr, check=False)  # noqa: S603
        if result.returncode != 0:
            raise ServiceError(f"'apt-get {' '.join(args)}' failed with exit code {result.returncode}")


def run_checked(cmd: list[str], what: str, *, cwd: Path, timeout: float, log_file: Path | None = None) -> None:
    """Run ``cmd``; raise ServiceError with its output (and ``log_file`` tail) if it fails."""
    try:
        proc = subprocess.Popen(  # noqa: S603
            cmd,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        raise ServiceError(f"{what} could not be run: {exc}") from None
    try:
        raw_output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_process(proc, group=True)
        raise ServiceError(f"{what} timed out after {timeout:.0f}s") from None
    except BaseException:
        # Interrupted: let the helper finish (bounded by the timeout) rather than kill it, as a postgres
        # process killed during initdb can leave a shared memory segment behind. Cleanup follows.
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=timeout)
        stop_process(proc, group=True)
        raise
    if proc.returncode != 0:
        output = tail(raw_output.decode(errors="replace"))
        if log_file is not None:
            output = "\n".join(filter(None, [output, read_tail(log_file)]))
        raise ServiceError(f"{what} failed with exit code {proc.returncode}" + (f":\n{output}" if output else ""))


def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals, *, group: bool) -> None:
    with contextlib.suppress(OSError):
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0, *, group: bool = False) -> None:
    """Terminate ``proc`` (its whole process group if ``group``), killing it if it does not exit in time."""
    if proc.poll() is not None and not group:
        return
    _signal(proc, signal.SIGTERM, group=group)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal(proc, signal.SIGKILL, group=group)
        proc.wait()


def make_tempdir(kind: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}-{kind}-"))


# --------------------------------------------------------------------------- PostgreSQL


def _version_key(bindir: Path) -> tuple[int, ...]:
    version = bindir.parent.name
    return tuple(int(part) for part in version.split(".")) if re.fullmatch(r"\d+(\.\d+)*", version) else (-1,)


def find_pg_bindir() -> Path | None:
    """Directory holding pg_ctl, initdb and postgres: highest /usr/lib/postgresql/*/bin, else PATH."""
    needed = ("pg_ctl", "initdb", "postgres")
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    for bindir in candidates:
        if all(os.access(bindir / name, os.X_OK) for name in needed):
            return bindir
    found = [shutil.which(name) for name in needed]
    if all(found):
        # pg_ctl expects the postgres binary next to itself.
        return Path(os.path.realpath(str(found[0]))).parent
    return None


def ensure_system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    log(f"creating system user {name!r} to run PostgreSQL")
    cmd = ["useradd", "--system", "--shell", "/bin/sh", "--no-create-home"]
    try:
        grp.getgrnam(name)
        cmd += ["--gid", name]
    except KeyError:
        cmd += ["--user-group"]
    run_checked([*cmd, name], f"useradd {name}", cwd=Path("/"), timeout=60)
    return pwd.getpwnam(name)


def as_postgres_user(cmd: list[str]) -> list[str]:
    """Wrap ``cmd`` so it runs as the postgres system user when we are root (initdb refuses root)."""
    if not is_root():
        return cmd
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", PG_USER, "--", *cmd]
    su = shutil.which("su")
    if su is None:
        raise ServiceError("running as root but neither runuser nor su is available to drop to the postgres user")
    return [su, "-s", "/bin/sh", PG_USER, "-c", shlex.join(cmd)]


def stop_postgres(bindir: Path, base: Path, data: Path) -> None:
    pid_file = data / "postmaster.pid"
    if not pid_file.exists():
        return
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", str(STOP_TIMEOUT), "stop"]
    with contextlib.suppress(ServiceError):
        run_checked(as_postgres_user(pg_ctl), "pg_ctl stop", cwd=base, timeout=STOP_TIMEOUT + 15)
    if pid_file.exists():
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pid_file.read_text().splitlines()[0])
            log(f"postgresql (pid {pid}) did not stop in time, killing it")
            os.kill(pid, signal.SIGKILL)


def create_database(bindir: Path, base: Path, port: int) -> None:
    createdb = bindir / "createdb"
    if not os.access(createdb, os.X_OK):
        return
    run_checked(
        [str(createdb), "-h", HOST, "-p", str(port), "-U", PG_USER, DB_NAME],
        f"createdb {DB_NAME}",
        cwd=base,
        timeout=PG_READY_TIMEOUT,
    )


def ensure_database_on_running_server(port: int) -> None:
    """Create the ``ecap`` database on a server that was already running, when createdb is at hand (best effort:
    the test runner creates its own test database either way; this only spares checks a missing-database warning)."""
    bindir = find_pg_bindir()
    createdb = bindir / "createdb" if bindir else None
    if createdb is None or not os.access(createdb, os.X_OK):
        return
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(  # noqa: S603 - fixed argument list; "already exists" is the common, harmless outcome
            [str(createdb), "-h", HOST, "-p", str(port), "-U", PG_USER, DB_NAME],
            capture_output=True,
            timeout=PG_READY_TIMEOUT,
            check=False,
        )


def start_postgres(stack: contextlib.ExitStack) -> tuple[str, int]:
    """Start a throwaway PostgreSQL cluster; return its URL and port. Cleanup is registered on ``stack``."""
    bindir = find_pg_bindir()
    if bindir is None:
        apt_install("postgresql", "PostgreSQL", "DATABASE_URL")
        bindir = find_pg_bindir()
        if bindir is None:
            raise ServiceError("PostgreSQL was installed but pg_ctl/initdb/postgres are still not found")

    base = make_tempdir("pg")
    stack.callback(shutil.rmtree, base, ignore_errors=True)
    if is_root():
        user = ensure_system_user(PG_USER)
        os.chown(base, user.pw_uid, user.pw_gid)
    data = base / "data"
    log_file = base / "postgres.log"
    port = free_port()

    initdb = [str(bindir / "initdb"), "-D", str(data), *INITDB_FLAGS]
    run_checked(as_postgres_user(initdb), "initdb", cwd=base, timeout=180)
    stack.callback(stop_postgres, bindir, base, data)
    options = f"-c listen_addresses={HOST} -p {port} -k {shlex.quote(str(base))} {PG_SERVER_OPTIONS}"
    timeout = str(int(PG_READY_TIMEOUT))
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log_file), "-o", options, "-w", "-t", timeout, "start"]
    run_checked(
        as_postgres_user(pg_ctl),
        f"pg_ctl start (port {port})",
        cwd=base,
        timeout=PG_READY_TIMEOUT + 30,
        log_file=log_file,
    )
    wait_until(
        lambda: postgres_answers(port), PG_READY_TIMEOUT, f"postgresql on {HOST}:{port}", lambda: read_tail(log_file)
    )
    create_database(bindir, base, port)
    return f"postgres://{PG_USER}@{HOST}:{port}/{DB_NAME}", port


def resolve_postgres(stack: contextlib.ExitStack, *, allow_start: bool) -> Service | None:
    url = os.environ.get("DATABASE_URL")
    if url:
        return Service("postgresql", url, f"DATABASE_URL={mask_url(url)}", "from environment")
    port = probe_port("TEST_SERVICES_PG_PORT", 5432)
    if postgres_answers(port):
        ensure_database_on_running_server(port)
        return Service(
            "postgresql", f"postgres://{PG_USER}@{HOST}:{port}/{DB_NAME}", f"{HOST}:{port}", "already running"
        )
    if not allow_start:
        return None
    url, started_port = start_postgres(stack)
    return Service("postgresql", url, f"{HOST}:{started_port}", "started, will stop afterwards")


# --------------------------------------------------------------------------- Redis


def start_redis(stack: contextlib.ExitStack) -> tuple[str, int]:
    """Start a throwaway redis-server child; return its URL and port. Cleanup is registered on ``stack``."""
    server = shutil.which("redis-server")
    if server is None:
        apt_install("redis-server", "Redis", "REDIS_URL")
        server = shutil.which("redis-server")
        if server is None:
            raise ServiceError("redis-server was installed but is still not found on PATH")

    base = make_tempdir("redis")
    stack.callback(shutil.rmtree, base, ignore_errors=True)
    log_file = base / "redis.log"
    port = free_port()
    cmd = [server, "--port", str(port), *REDIS_OPTIONS, "--dir", str(base)]
    with log_file.open("wb") as log_handle:
        try:
            proc = subprocess.Popen(  # noqa: S603
                cmd,
                cwd=base,
                stdin=subprocess.DEVNULL,
                stdout=log_handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise ServiceError(f"redis-server could not be run: {exc}") from None
    stack.callback(stop_process, proc, group=True)

    def ready() -> bool:
        if proc.poll() is not None:
            raise ServiceError(f"redis-server exited with code {proc.returncode}:\n{read_tail(log_file)}")
        return redis_answers(port)

    wait_until(ready, REDIS_READY_TIMEOUT, f"redis on {HOST}:{port}", lambda: read_tail(log_file))
    return f"redis://{HOST}:{port}/0", port


def resolve_redis(stack: contextlib.ExitStack, *, allow_start: bool) -> Service | None:
    url = os.environ.get("REDIS_URL")
    if url:
        return Service("redis", url, f"REDIS_URL={mask_url(url)}", "from environment")
    port = probe_port("TEST_SERVICES_REDIS_PORT", 6379)
    if redis_answers(port):
        return Service("redis", f"redis://{HOST}:{port}/0", f"{HOST}:{port}", "already running")
    if not allow_start:
        return None
    url, started_port = start_redis(stack)
    return Service("redis", url, f"{HOST}:{started_port}", "started, will stop afterwards")


# --------------------------------------------------------------------------- running


def announce(service: Service) -> None:
    log(f"{service.name} at {service.where} ({service.how})")


def run_command(cmd: list[str], env: dict[str, str]) -> int:
    """Run ``cmd`` and return its exit code (128+N if killed by signal N)."""
    try:
        proc = subprocess.Popen(cmd, env=env)  # noqa: S603
    except OSError as exc:
        log(f"cannot run {cmd[0]!r}: {exc}")
        return 127
    try:
        returncode = proc.wait()
    except BaseException:
        stop_process(proc)
        raise
    return 128 - returncode if returncode < 0 else returncode


def _raise_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into SystemExit so ``finally`` blocks and ExitStack callbacks run."""
    previous = {sig: signal.signal(sig, _raise_on_signal) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def print_env() -> int:
    with contextlib.ExitStack() as stack:
        services = {
            "DATABASE_URL": resolve_postgres(stack, allow_start=False),
            "REDIS_URL": resolve_redis(stack, allow_start=False),
        }
    found = {name: service for name, service in services.items() if service is not None}
    for name in (name for name, service in services.items() if service is None):
        log(
            f"nothing to use for {name}: it is not set and no server answers on the probed port; "
            "--print-env does not start services (run a command with '-- <command>' instead)"
        )
    if len(found) != len(services):
        return 2
    for name, service in found.items():
        announce(service)
        print(f"export {name}={shlex.quote(service.url)}")
    return 0


def ensure_java() -> None:
    """Spark (local mode, the Spark tests and benchmarks) needs a Java runtime; install one when it is missing."""
    if shutil.which("java") or os.environ.get("JAVA_HOME"):
        return
    apt_install("openjdk-17-jre-headless", "A Java runtime (for Spark)", "JAVA_HOME")
    log(f"java installed at {shutil.which('java')}")


def run_with_services(cmd: list[str]) -> int:
    ensure_java()
    with contextlib.ExitStack() as stack:
        postgres = resolve_postgres(stack, allow_start=True)
        redis = resolve_redis(stack, allow_start=True)
        if postgres is None or redis is None:  # pragma: no cover - allow_start=True always yields a service
            raise ServiceError("internal error: service not resolved")
        announce(postgres)
        announce(redis)
        env = {**os.environ, "DATABASE_URL": postgres.url, "REDIS_URL": redis.url}
        return run_command(cmd, env)


def usage(code: int) -> int:
    print(USAGE, file=sys.stdout if code == 0 else sys.stderr, end="")
    return code


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args in (["-h"], ["--help"]):
        return usage(0)
    if args != ["--print-env"] and (len(args) < 2 or args[0] != "--"):
        return usage(2)
    try:
        with signals_raise():
            return print_env() if args == ["--print-env"] else run_with_services(args[1:])
    except ServiceError as exc:
        log(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
