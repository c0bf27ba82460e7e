"""Make sure the Chromium the browser tests drive is on this machine.

Usage::

    python scripts/browser.py

The browser is ``$CHROMIUM`` when set, else ``/usr/bin/chromium`` (Debian's ``chromium`` package); Playwright's own
browser download is not used. When ``/usr/bin/chromium`` is missing, the package is installed with ``apt-get``, as
root or through ``sudo -n``; ``apt-get update`` runs only when a first install fails (stale package lists).

When no browser can be had, this says why, writes the reason to ``<var>/browser-unavailable.txt`` (``var/`` or
``$PORTAL_VAR_DIR``) and exits 0: the browser tests skip with that reason and the rest of the suite still runs. A
browser found or installed removes that file.

Standard library only, like ``scripts/test_services.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PREFIX = "browser"
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CHROMIUM = "/usr/bin/chromium"
PACKAGE = "chromium"
APT_LOCK_WAIT = "300"  # seconds to wait for another apt/dpkg (e.g. a service install) to finish
VERSION_TIMEOUT = 60.0
REASON_FILE = "browser-unavailable.txt"


class BrowserUnavailable(RuntimeError):
    """No Chromium can be found or installed here; the message says why."""


def log(message: str) -> None:
    print(f"{PREFIX}: {message}", file=sys.stderr, flush=True)


def reason_file() -> Path:
    """Where the browser tests read why they skip (the portal's var directory)."""
    return Path(os.environ.get("PORTAL_VAR_DIR") or ROOT / "var") / REASON_FILE


def is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def version(path: str) -> str:
    """``chromium --version``; raises BrowserUnavailable when the binary does not run."""
    try:
        result = subprocess.run(  # noqa: S603 - a fixed argument list
            [path, "--version"], capture_output=True, text=True, timeout=VERSION_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BrowserUnavailable(f"{path} does not run: {exc}") from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()[-500:]
        raise BrowserUnavailable(f"{path} --version failed with exit code {result.returncode}: {detail}")
    return result.stdout.strip()


def apt_command() -> list[str]:
    """``apt-get`` as root, or through passwordless sudo; raises BrowserUnavailable when neither is possible."""
    apt = shutil.which("apt-get")
    if apt is None:
        raise BrowserUnavailable(f"{DEFAULT_CHROMIUM} is missing and there is no apt-get to install {PACKAGE!r}")
    if os.geteuid() == 0:
        return [apt]
    sudo = shutil.which("sudo")
    if sudo is None:
        raise BrowserUnavailable(
            f"{DEFAULT_CHROMIUM} is missing and installing {PACKAGE!r} needs root (not root, no sudo); "
            f"install it or set CHROMIUM to a Chromium binary"
        )
    probe = subprocess.run([sudo, "-n", "true"], capture_output=True, check=False)  # noqa: S603
    if probe.returncode != 0:
        raise BrowserUnavailable(
            f"{DEFAULT_CHROMIUM} is missing and installing {PACKAGE!r} needs root (sudo asks for a password); "
            f"run 'sudo apt-get install chromium' or set CHROMIUM to a Chromium binary"
        )
    return [sudo, "-n", "env", "DEBIAN_FRONTEND=noninteractive", apt]


def apt_run(apt: list[str], *args: str) -> int:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = [*apt, "-o", f"DPkg::Lock::Timeout={APT_LOCK_WAIT}", *args]
    log(f"apt-get {' '.join(args)}")
    try:
        result = subprocess.run(command, env=env, stdout=sys.stderr, stderr=sys.stderr, check=False)  # noqa: S603
    except OSError as exc:
        raise BrowserUnavailable(f"apt-get could not be run: {exc}") from None
    return result.returncode


def install() -> None:
    """Install Debian's chromium package; refresh the package lists and retry once if the first attempt fails."""
    apt = apt_command()
    log(f"{DEFAULT_CHROMIUM} not found, installing {PACKAGE} with apt-get")
    install_args = ("install", "-y", "--no-install-recommends", PACKAGE)
    if apt_run(apt, *install_args) == 0:
        return
    log("the install failed; updating the package lists and trying again")
    code = apt_run(apt, "update")
    if code != 0:
        raise BrowserUnavailable(f"'apt-get update' failed with exit code {code}")
    code = apt_run(apt, *install_args)
    if code != 0:
        raise BrowserUnavailable(f"'apt-get install {PACKAGE}' failed with exit code {code}")


def ensure() -> str:
    """The Chromium binary to use, installed when missing; raises BrowserUnavailable saying why there is none."""
    chosen = os.environ.get("CHROMIUM", "").strip()
    if chosen:
        if not is_executable(chosen):
            raise BrowserUnavailable(f"CHROMIUM={chosen} is not an executable file")
        return chosen
    if not is_executable(DEFAULT_CHROMIUM):
        install()
        if not is_executable(DEFAULT_CHROMIUM):
            raise BrowserUnavailable(f"{PACKAGE} was installed but {DEFAULT_CHROMIUM} is still missing")
    return DEFAULT_CHROMIUM


def main() -> int:
    if sys.argv[1:]:
        print(__doc__, file=sys.stderr)
        return 2
    marker = reason_file()
    try:
        path = ensure()
        found = version(path)
    except BrowserUnavailable as exc:
        reason = str(exc)
        log(f"no browser for the browser tests, they will be skipped: {reason}")
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(reason + "\n")
        return 0
    marker.unlink(missing_ok=True)
    log(f"{found} at {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
