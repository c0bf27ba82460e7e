"""The remediation API is documented without a single schema warning."""

from __future__ import annotations

from pathlib import Path

import yaml
from django.core.management import call_command


def test_the_remediation_api_schema_generates_without_warnings(tmp_path: Path) -> None:
    out = tmp_path / "schema.yaml"
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--urlconf", "tests.incidents.remediation.schema_urls",
        "--file", str(out),
    )  # fmt: skip

    schema = yaml.safe_load(out.read_text())
    assert set(schema["paths"]) >= {
        "/api/v1/incidents/remediations/{id}/approve/",
        "/api/v1/incidents/remediations/{id}/deny/",
        "/api/v1/incidents/remediation-rules/{id}/",
    }
    deny = schema["paths"]["/api/v1/incidents/remediations/{id}/deny/"]["post"]
    assert set(deny["responses"]) == {"200", "403", "409"}
