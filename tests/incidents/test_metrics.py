"""Alert intake on ``/metrics``: deliveries received (duplicates included), deduplicated, and payloads pending."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.incidents.services import payload_accept
from tests.common.test_metrics import value
from tests.incidents.conftest import am_alert, am_payload, process_all

pytestmark = pytest.mark.django_db


def test_alerts_received_and_deduplicated_count_every_delivery_once(client: Client, alertmanager) -> None:
    integration = alertmanager[0]
    # The same alert delivered three times (Alertmanager repeats firing alerts), and a second alert once.
    for _ in range(3):
        payload_accept(integration=integration, body=am_payload(am_alert(), group_key="a"))
    payload_accept(integration=integration, body=am_payload(am_alert("DataPipelineBacklog"), group_key="b"))

    assert value(client, "ecap_alert_payloads_pending") == 4.0
    process_all()

    assert value(client, "ecap_alert_payloads_pending") == 0.0
    assert value(client, "ecap_alerts_received_total") == 4.0
    assert value(client, "ecap_alerts_deduplicated_total") == 2.0
