"""Benchmark reporting: each benchmark records figures with the ``bench`` fixture; one table is printed at the end.

A figure may name a baseline measured in the same run; the table then shows the ratio figure / baseline, so results
compare across machines of different speed. Run with ``make bench``; never part of ``make test``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest


@dataclass
class Figure:
    """One measured number."""

    name: str
    value: float
    unit: str
    baseline: str | None = None


@dataclass
class BenchReport:
    """Figures recorded during the run, in order."""

    figures: list[Figure] = field(default_factory=list)

    def record(self, name: str, value: float, unit: str, *, baseline: str | None = None) -> None:
        """Record a figure; ``baseline`` names an earlier figure of the same unit to compute a ratio against."""
        self.figures.append(Figure(name, value, unit, baseline))

    def value(self, name: str) -> float:
        return next(f.value for f in self.figures if f.name == name)

    def table(self) -> str:
        rows = [("benchmark", "figure", "unit", "baseline", "ratio")]
        for f in self.figures:
            ratio = ""
            if f.baseline is not None:
                base = self.value(f.baseline)
                ratio = f"{f.value / base:.2f}x" if base else "n/a"
            rows.append((f.name, f"{f.value:,.1f}", f.unit, f.baseline or "", ratio))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = [" | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
        lines.insert(1, "-+-".join("-" * w for w in widths))
        return "\n".join(lines)


_REPORT = BenchReport()


@pytest.fixture(scope="session")
def bench() -> BenchReport:
    return _REPORT


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _REPORT.figures:
        terminalreporter.write_sep("=", "benchmark figures")
        terminalreporter.write_line(_REPORT.table())
