"""Check the portal's Prometheus alert rules and Grafana dashboards with promtool (what `make check-rules` runs).

Usage::

    python scripts/check_rules.py

Steps:

* find promtool: ``$PROMTOOL``, else ``.tools/bin/promtool``, else one on ``PATH``; else install it into
  ``.tools/bin`` from Debian's ``prometheus`` package (``apt-get download`` and ``dpkg-deb``: only the promtool binary
  is extracted, nothing is installed system-wide and no Prometheus server is started; when the download fails as
  root, ``apt-get update`` runs once and it is retried). The time taken is printed;
* ``promtool check rules`` over ``helm/ecap-portal/files/rules/*.yaml`` (syntax, PromQL, duplicate rules);
* ``promtool test rules`` over ``helm/ecap-portal/files/rules/tests/*.yaml`` (the rules' unit tests);
* every query of every dashboard in ``helm/ecap-portal/files/dashboards/`` parsed by promtool too (written as
  recording rules into a temporary file, ``$namespace`` replaced by a value), so a typo in a panel fails here.

When promtool cannot be had (no apt-get, no network, not Debian), this says why and exits 0 after checking the
files' structure: the metric names of every rule and dashboard expression are still checked against what ``/metrics``
of a test portal with seeded data exports, by ``tests/common/test_metrics.py`` in the pytest step.

Standard library plus PyYAML (a dev requirement). Exit status 1 when a check fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
FILES = ROOT / "helm" / "ecap-portal" / "files"
RULES = FILES / "rules"
RULE_TESTS = RULES / "tests"
DASHBOARDS = FILES / "dashboards"
TOOLS_BIN = ROOT / ".tools" / "bin"
PACKAGE = "prometheus"
PREFIX = "check-rules"
REQUIRED_ANNOTATIONS = {"summary", "description", "runbook_url"}
APT_LOCK_WAIT = "300"


class PromtoolUnavailable(RuntimeError):
    """No promtool here and none can be installed; the message says why."""


def log(message: str) -> None:
    print(f"{PREFIX}: {message}", flush=True)


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # noqa: S603


def works(promtool: str) -> bool:
    try:
        return run([promtool, "--version"]).returncode == 0
    except OSError:
        return False


def install() -> Path:
    """Extract promtool from Debian's prometheus package into .tools/bin; raises PromtoolUnavailable saying why."""
    apt, dpkg = shutil.which("apt-get"), shutil.which("dpkg-deb")
    if apt is None or dpkg is None:
        raise PromtoolUnavailable("promtool is missing and there is no apt-get/dpkg-deb to get Debian's prometheus")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="promtool-") as tmp:
        # _apt cannot write into a private temporary directory: fetch as the current user (no sandbox warning).
        download = [apt, "-o", "APT::Sandbox::User=root", "download", PACKAGE]
        log(f"promtool not found: fetching Debian's {PACKAGE} package to extract it")
        result = run(download, cwd=tmp)
        if result.returncode != 0 and os.geteuid() == 0:
            log("the download failed; updating the package lists and trying again")
            update = run([apt, "-o", f"DPkg::Lock::Timeout={APT_LOCK_WAIT}", "update"])
            if update.returncode != 0:
                raise PromtoolUnavailable(f"'apt-get update' failed: {update.stderr.strip()[-300:]}")
            result = run(download, cwd=tmp)
        if result.returncode != 0:
            raise PromtoolUnavailable(f"'apt-get download {PACKAGE}' failed: {result.stderr.strip()[-300:]}")
        debs = sorted(Path(tmp).glob(f"{PACKAGE}_*.deb"))
        if not debs:
            raise PromtoolUnavailable(f"'apt-get download {PACKAGE}' left no .deb")
        extract = Path(tmp) / "root"
        unpacked = run([dpkg, "-x", str(debs[0]), str(extract)])
        binary = extract / "usr" / "bin" / "promtool"
        if unpacked.returncode != 0 or not binary.exists():
            raise PromtoolUnavailable(f"{debs[0].name} has no usr/bin/promtool ({unpacked.stderr.strip()[-300:]})")
        TOOLS_BIN.mkdir(parents=True, exist_ok=True)
        target = TOOLS_BIN / "promtool"
        shutil.copy2(binary, target)
        target.chmod(0o755)
    if not works(str(target)):
        raise PromtoolUnavailable(f"{target} does not run")
    log(f"installed {target} from {debs[0].name} in {time.monotonic() - started:.1f}s")
    return target


def find_promtool() -> str:
    chosen = os.environ.get("PROMTOOL", "").strip()
    if chosen:
        if not works(chosen):
            raise PromtoolUnavailable(f"PROMTOOL={chosen} does not run")
        return chosen
    for candidate in (TOOLS_BIN / "promtool", shutil.which("promtool")):
        if candidate and works(str(candidate)):
            return str(candidate)
    return str(install())


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, expression) of every query of every dashboard."""
    queries = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board.get("panels", []):
            for target in panel.get("targets", []):
                if target.get("expr"):
                    where = f"{path.name}: {panel.get('title')} ({target.get('refId')})"
                    queries.append((where, target["expr"]))
    return queries


def structure_problems() -> list[str]:
    """What can be checked without promtool: the files parse and each rule has what the chart and Alertmanager need."""
    problems = []
    for path in sorted(RULES.glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        for group in document.get("groups", []):
            for rule in group.get("rules", []):
                name = rule.get("alert") or rule.get("record")
                if not name or not isinstance(rule.get("expr"), str):
                    problems.append(f"{path.name}: {group.get('name')}: a rule without a name or expr")
                elif "alert" in rule and REQUIRED_ANNOTATIONS - set(rule.get("annotations", {})):
                    problems.append(f"{path.name}: {name}: summary, description and runbook_url are required")
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        if not board.get("uid") or not any(v.get("type") == "datasource" for v in board["templating"]["list"]):
            problems.append(f"{path.name}: a dashboard needs a uid and a data-source variable")
    return problems


def main() -> int:
    problems = structure_problems()
    if problems:
        for problem in problems:
            log(f"FAIL {problem}")
        return 1
    rule_files = sorted(str(p) for p in RULES.glob("*.yaml"))
    test_files = sorted(str(p) for p in RULE_TESTS.glob("*.yaml"))
    try:
        promtool = find_promtool()
    except PromtoolUnavailable as exc:
        log(f"promtool unavailable: {exc}")
        log(
            f"checked the structure of {len(rule_files)} rule file(s) and {len(list(DASHBOARDS.glob('*.json')))} "
            "dashboard(s) only; the metric names of every expression are checked against a seeded portal's /metrics "
            "by tests/common/test_metrics.py (pytest step)"
        )
        return 0
    log(run([promtool, "--version"]).stdout.splitlines()[0])
    failed = False
    for title, command in (
        ("check rules", [promtool, "check", "rules", *rule_files]),
        ("test rules", [promtool, "test", "rules", *test_files]),
    ):
        started = time.monotonic()
        result = run(command, cwd=ROOT)
        status = "ok" if result.returncode == 0 else "FAILED"
        log(f"promtool {title}: {status} in {time.monotonic() - started:.1f}s")
        if result.returncode != 0:
            failed = True
            print(result.stdout + result.stderr, file=sys.stderr)
    queries = dashboard_queries()
    with tempfile.TemporaryDirectory(prefix="dashboards-") as tmp:
        checked = Path(tmp) / "dashboards.rules.yaml"
        rules = [
            {"record": f"ecap:dashboard_query:{i}", "expr": expr.replace("$namespace", "ecap")}
            for i, (_, expr) in enumerate(queries)
        ]
        checked.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}, sort_keys=False))
        result = run([promtool, "check", "rules", "--lint=none", str(checked)])
        log(f"promtool parsed {len(queries)} dashboard queries: {'ok' if result.returncode == 0 else 'FAILED'}")
        if result.returncode != 0:
            failed = True
            output = result.stdout + result.stderr
            for i, (where, _) in reversed(list(enumerate(queries))):  # :56 before :5
                output = output.replace(f"ecap:dashboard_query:{i}", where)
            print(output, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
