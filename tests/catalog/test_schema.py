"""Schema apply: versions with diffs, breaking changes, and the alert only when someone consumes the dataset."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.catalog.models import Field, SchemaVersion
from apps.catalog.services import FieldSpec, dataset_schema_apply
from apps.incidents.models import AlertPayload
from tests.catalog.factories import DatasetFactory, dataset_edge

pytestmark = pytest.mark.django_db

V1 = [FieldSpec("order_id", "string", False), FieldSpec("amount", "decimal(12,2)", True)]


def test_versions_record_the_difference_and_unchanged_schemas_add_none() -> None:
    dataset = DatasetFactory()
    first = dataset_schema_apply(dataset=dataset, fields=V1, source="test")
    assert first is not None
    assert first.version == 1
    assert first.diff["added"] == ["order_id", "amount"]
    assert dataset_schema_apply(dataset=dataset, fields=V1) is None
    second = dataset_schema_apply(dataset=dataset, fields=[*V1, FieldSpec("currency", "string")])
    assert second is not None
    assert (second.version, second.diff["added"], second.is_breaking) == (2, ["currency"], False)
    dataset.refresh_from_db()
    assert dataset.schema_version == 2
    assert "currency" in dataset.search_text


def test_a_removed_field_is_breaking_and_becomes_inactive() -> None:
    dataset = DatasetFactory()
    dataset_schema_apply(dataset=dataset, fields=V1)
    version = dataset_schema_apply(dataset=dataset, fields=[FieldSpec("order_id", "string", False)])
    assert version is not None
    assert version.is_breaking
    assert version.diff["removed"] == ["amount"]
    assert not Field.objects.get(dataset=dataset, name="amount").is_active


def test_a_type_change_alerts_only_when_the_dataset_has_downstream_consumers() -> None:
    lonely, consumed, consumer = DatasetFactory(), DatasetFactory(), DatasetFactory()
    for dataset in (lonely, consumed):
        dataset_schema_apply(dataset=dataset, fields=V1)
    dataset_edge(consumed, consumer)
    changed = [FieldSpec("order_id", "bigint", False), FieldSpec("amount", "decimal(12,2)", True)]
    assert dataset_schema_apply(dataset=lonely, fields=changed).is_breaking
    assert not AlertPayload.objects.filter(body__title__contains=lonely.name).exists()
    version = dataset_schema_apply(dataset=consumed, fields=changed)
    assert version.is_breaking
    assert version.diff["changed"] == [{"name": "order_id", "from": "string", "to": "bigint"}]
    alert = AlertPayload.objects.get(body__dedup_key=f"catalog:schema:{consumed.public_id}:2")
    assert consumed.name in alert.body["title"]
    assert SchemaVersion.objects.filter(dataset=consumed).count() == 2


def test_a_schema_report_older_than_the_one_applied_changes_nothing() -> None:
    dataset = DatasetFactory()
    now = timezone.now()
    old = [FieldSpec("id", "string"), FieldSpec("legacy", "string")]
    new = [FieldSpec("id", "string")]
    assert dataset_schema_apply(dataset=dataset, fields=new, reported_at=now) is not None
    # A late event of an earlier run still lists the dropped field: neither form may bring it back.
    assert dataset_schema_apply(dataset=dataset, fields=old, reported_at=now - timedelta(minutes=5)) is None
    assert (
        dataset_schema_apply(dataset=dataset, fields=old, reported_at=now - timedelta(minutes=5), replace=False) is None
    )
    assert not Field.objects.filter(dataset=dataset, name="legacy").exists()
    assert SchemaVersion.objects.filter(dataset=dataset).count() == 1
    later = dataset_schema_apply(dataset=dataset, fields=old, reported_at=now + timedelta(minutes=5))
    assert later is not None
    assert later.diff["added"] == ["legacy"]
