"""The configuration API as its schema documents it."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator


@pytest.mark.django_db
def test_entries_list_is_documented_as_the_paginated_envelope_it_returns(token_client) -> None:
    admin, _ = token_client("admin")
    body = admin.get("/api/v1/configuration/entries/", {"page_size": 2}).json()
    assert set(body) == {"count", "next", "previous", "results"}

    operation = SchemaGenerator().get_schema(request=None, public=True)["paths"]["/api/v1/configuration/entries/"][
        "get"
    ]
    documented = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert documented["$ref"] == "#/components/schemas/PaginatedConfigEntryList"
    assert {"page", "page_size", "search"} <= {p["name"] for p in operation["parameters"]}
