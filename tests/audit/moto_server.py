"""moto's S3-compatible server on a loopback port, and an Object Lock bucket on it, for the anchor tests."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

REGION = "eu-west-1"


@dataclass(frozen=True)
class LockedBucket:
    """A bucket created with Object Lock enabled, the server it lives on, and a client for asserting on it."""

    name: str
    endpoint: str
    client: Any


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server on a free loopback port for the session (its buckets live in this process); stopped after."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def locked_bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> LockedBucket:
    """A fresh Object Lock bucket; dummy credentials in the environment, no profile or config file of this host."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    client = boto3.client("s3", region_name=REGION, endpoint_url=moto_endpoint)
    name = f"ecap-anchors-{secrets.token_hex(6)}"
    client.create_bucket(
        Bucket=name,
        CreateBucketConfiguration={"LocationConstraint": REGION},
        ObjectLockEnabledForBucket=True,
    )
    return LockedBucket(name=name, endpoint=moto_endpoint, client=client)
