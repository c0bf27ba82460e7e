"""Known-vulnerability audit of the pinned requirements (what `make audit-deps`, a step of `make test`, runs).

Usage::

    python scripts/audit_deps.py                                   # requirements.txt + requirements-dev.txt
    python scripts/audit_deps.py -r some/requirements.txt          # other pinned files
    ECAP_AUDIT_OFFLINE=1 python scripts/audit_deps.py              # or --offline: see below

Every pin (``name==version``, extras allowed, ``-r`` includes followed) is audited in two passes:

1. ``pip-audit --no-deps --disable-pip`` over the files, against ``ECAP_AUDIT_SERVICE`` (default ``pypi``;
   ``osv`` also works where it is reachable). The files are fully pinned, so nothing is resolved.
2. A pin pip-audit reported as not auditable (the per-version JSON of PyPI answered 404, as some mirrors do) is
   looked up in the project's JSON on PyPI instead: when the pin *is* the latest release, the ``vulnerabilities`` there
   are exactly the ones of that version. A pin older than the latest release stays **not audited**.

Outcome, exit status 1 on any of:

* a known vulnerability of a pinned version that is not justified in ``security/pip-audit-ignore.toml``;
* a pin that could not be audited (service unreachable, or no per-version answer for an older pin), unless offline
  mode is on (``--offline`` or ``ECAP_AUDIT_OFFLINE=1``): then those pins are listed as NOT AUDITED and the step passes
  on what it could check. Offline mode never hides a vulnerability that was found;
* an ignore entry that is malformed (missing package/id/reason/review_by), past its review date, or stale (its
  vulnerability is no longer reported for that package).

Only the standard library and pip-audit (a dev requirement) are used.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REQUIREMENTS = (ROOT / "requirements.txt", ROOT / "requirements-dev.txt")
IGNORE_FILE = ROOT / "security" / "pip-audit-ignore.toml"
PYPI_PROJECT_URL = "https://pypi.org/pypi/{name}/json"
TIMEOUT_S = 20
IGNORE_KEYS = frozenset({"package", "id", "reason", "review_by"})
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;#]+)")


class AuditConfigError(Exception):
    """A requirements or ignore file the audit cannot trust."""


@dataclass(frozen=True, order=True)
class Pin:
    name: str  # canonical (PEP 503) name
    version: str


@dataclass(frozen=True)
class Ignore:
    package: str
    id: str
    reason: str
    review_by: dt.date


@dataclass
class Report:
    vulns: dict[Pin, list[dict[str, Any]]] = field(default_factory=dict)
    not_audited: dict[Pin, str] = field(default_factory=dict)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path, _seen: set[Path] | None = None) -> list[Pin]:
    """Every ``name==version`` of a requirements file and the files it includes with ``-r``; anything unpinned fails."""
    seen = _seen if _seen is not None else set()
    path = path.resolve()
    if path in seen:
        return []
    seen.add(path)
    pins: list[Pin] = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            pins += read_pins(path.parent / line.split(maxsplit=1)[1], seen)
            continue
        match = _PIN.match(line)
        if match is None:
            raise AuditConfigError(f"{path.name}:{number}: not an exact pin (name==version): {line!r}")
        pins.append(Pin(canonical(match["name"]), match["version"]))
    return pins


def load_ignores(path: Path, *, today: dt.date) -> list[Ignore]:
    """The justified vulnerabilities; every entry needs package, id, a reason and a review date not yet passed."""
    if not path.exists():
        return []
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise AuditConfigError(f"{path.name}: {exc}") from exc
    entries = data.get("ignore", [])
    if set(data) - {"ignore"} or not isinstance(entries, list):
        raise AuditConfigError(f"{path.name}: only [[ignore]] tables are allowed")
    ignores = []
    for index, entry in enumerate(entries, start=1):
        where = f"{path.name}: [[ignore]] #{index}"
        if not isinstance(entry, dict):
            raise AuditConfigError(f"{where}: not a table")
        missing = sorted(IGNORE_KEYS - set(entry))
        unknown = sorted(set(entry) - IGNORE_KEYS)
        if missing or unknown:
            raise AuditConfigError(f"{where}: missing {missing}, unknown {unknown}")
        package, vuln_id, reason, review_by = (entry[key] for key in ("package", "id", "reason", "review_by"))
        if not all(isinstance(value, str) and value.strip() for value in (package, vuln_id, reason)):
            raise AuditConfigError(f"{where}: package, id and reason must be non-empty strings")
        if len(reason.split()) < 5:
            raise AuditConfigError(f"{where}: the reason must say why {vuln_id} does not apply or what mitigates it")
        if not isinstance(review_by, dt.date) or isinstance(review_by, dt.datetime):
            raise AuditConfigError(f"{where}: review_by must be a date (YYYY-MM-DD)")
        if review_by < today:
            raise AuditConfigError(f"{where}: {package} {vuln_id} was due for review on {review_by}: review it again")
        ignores.append(Ignore(canonical(package), vuln_id, reason.strip(), review_by))
    return ignores


def run_pip_audit(requirements: list[Path], service: str) -> tuple[dict[Pin, list[dict[str, Any]]], set[str]]:
    """pip-audit over the files: (vulnerabilities per audited pin, names pip-audit could not audit)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "audit.json"
        command = [sys.executable, "-m", "pip_audit", "--no-deps", "--disable-pip", "--desc", "off"]
        command += ["--vulnerability-service", service, "--format", "json", "--output", str(out)]
        command += ["--progress-spinner", "off", "--timeout", str(TIMEOUT_S), "--cache-dir", str(Path(tmp) / "cache")]
        for path in requirements:
            command += ["--requirement", str(path)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        # No report means pip-audit failed as a whole (service unreachable): every pin goes to the second pass.
        dependencies = json.loads(out.read_text())["dependencies"] if out.exists() and out.stat().st_size else []
    vulns: dict[Pin, list[dict[str, Any]]] = {}
    skipped: set[str] = set()
    if not dependencies:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        print(f"pip-audit ({service}) gave no report: {tail[0]}")
    for dependency in dependencies:
        name = canonical(dependency["name"])
        if "skip_reason" in dependency:
            skipped.add(name)
            continue
        vulns[Pin(name, dependency["version"])] = dependency.get("vulns", [])
    return vulns, skipped


def pypi_latest_vulns(pin: Pin) -> tuple[list[dict[str, Any]] | None, str]:
    """The project JSON's vulnerabilities when the pin is the latest release; (None, why) when that cannot tell."""
    url = PYPI_PROJECT_URL.format(name=pin.name)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:  # noqa: S310 (a fixed https URL)
            project = json.load(response)
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        return None, f"PyPI unreachable ({exc})"
    latest = project["info"]["version"]
    if latest != pin.version:
        return None, f"no per-version answer for {pin.version} (latest is {latest})"
    return [
        {"id": v["id"], "fix_versions": v.get("fixed_in") or [], "aliases": v.get("aliases") or []}
        for v in project.get("vulnerabilities") or []
        if not v.get("withdrawn")
    ], ""


def audit(requirements: list[Path], *, service: str) -> Report:
    """Both passes over every pin of the files."""
    pins = sorted(
        {pin for path in requirements for pin in read_pins(path)},
    )
    audited, skipped = run_pip_audit(requirements, service)
    report = Report()
    fallback = []
    for pin in pins:
        if pin in audited and pin.name not in skipped:
            report.vulns[pin] = audited[pin]
        else:
            fallback.append(pin)
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        for pin, (found, why) in zip(fallback, pool.map(pypi_latest_vulns, fallback), strict=True):
            if found is None:
                report.not_audited[pin] = why
            else:
                report.vulns[pin] = found
    return report


def verdict(report: Report, ignores: list[Ignore], *, offline: bool) -> list[str]:
    """The problems that fail the step (printing what passed and what was justified)."""
    problems = []
    used: set[tuple[str, str]] = set()
    for pin, vulns in sorted(report.vulns.items()):
        for vuln in vulns:
            ids = {str(vuln["id"]), *(str(alias) for alias in vuln.get("aliases") or [])}
            justified = [i for i in ignores if i.package == pin.name and i.id in ids]
            fixes = ", ".join(str(v) for v in vuln.get("fix_versions") or []) or "none yet"
            if justified:
                used.update((i.package, i.id) for i in justified)
                print(f"  ignored  {pin.name}=={pin.version} {vuln['id']} (review by {justified[0].review_by})")
            else:
                problems.append(f"{pin.name}=={pin.version}: {vuln['id']} (fixed in: {fixes})")
    unknown = {pin.name for pin in report.not_audited}
    problems += [
        f"stale ignore entry: {i.package} {i.id} is no longer reported; remove it"
        for i in ignores
        if (i.package, i.id) not in used and i.package not in unknown
    ]
    if report.not_audited:
        lines = [f"{pin.name}=={pin.version}: {why}" for pin, why in sorted(report.not_audited.items())]
        if offline:
            print(f"NOT AUDITED ({len(lines)} pins, offline mode):")
            print("\n".join(f"  {line}" for line in lines))
        else:
            problems += [f"not audited: {line}" for line in lines]
            problems.append("set ECAP_AUDIT_OFFLINE=1 (or --offline) to pass on the pins that could be audited")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-r", "--requirement", type=Path, action="append", help="pinned requirements file(s)")
    parser.add_argument("--ignore-file", type=Path, default=IGNORE_FILE)
    parser.add_argument("--service", default=os.environ.get("ECAP_AUDIT_SERVICE", "pypi"), choices=("pypi", "osv"))
    parser.add_argument("--offline", action="store_true", default=os.environ.get("ECAP_AUDIT_OFFLINE") == "1")
    args = parser.parse_args(argv)
    requirements = args.requirement or list(DEFAULT_REQUIREMENTS)
    started = time.monotonic()
    try:
        ignores = load_ignores(args.ignore_file, today=dt.datetime.now(tz=dt.UTC).date())
        report = audit(requirements, service=args.service)
    except AuditConfigError as exc:
        print(f"audit-deps: FAILED: {exc}")
        return 1
    problems = verdict(report, ignores, offline=args.offline)
    audited = len(report.vulns)
    summary = f"{audited} pins audited, {len(report.not_audited)} not audited, {time.monotonic() - started:.1f}s"
    if problems:
        print(f"audit-deps: FAILED ({summary}):")
        print("\n".join(f"  {problem}" for problem in problems))
        return 1
    print(f"audit-deps: ok ({summary}, {len(ignores)} justified ignore entries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
