"""The cloud profile's wiring, built for real where it can be: S3 and Secrets Manager under moto, the Aurora
secret pointing at this machine's MariaDB, OpenSearch at an address where nothing listens."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from tests.api.conftest import rest_event
from tests.conftest import empty_mariadb, mariadb_admin
from vitrine.config import load_settings
from vitrine_dev.lambda_context import LocalContext


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def cloud(mariadb_database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    empty_mariadb(mariadb_database)
    with mariadb_admin() as admin, admin.cursor() as cursor:  # an application user, as Aurora's secret holds
        cursor.execute("CREATE USER IF NOT EXISTS 'vitrine_app'@'127.0.0.1' IDENTIFIED BY 'p@ss:w/rd%'")
        cursor.execute(f"GRANT ALL PRIVILEGES ON `{mariadb_database}`.* TO 'vitrine_app'@'127.0.0.1'")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        boto3.client("s3", region_name="eu-west-1").create_bucket(
            Bucket="vitrine-catalog", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        secret = boto3.client("secretsmanager", region_name="eu-west-1").create_secret(
            Name="vitrine/db",
            SecretString=json.dumps(
                {"host": "127.0.0.1", "port": 3306, "username": "vitrine_app", "password": "p@ss:w/rd%"}
            ),
        )
        yield load_settings(
            profile="cloud",
            aws={
                "region": "eu-west-1",
                "bucket": "vitrine-catalog",
                "db_secret_arn": secret["ARN"],
                "db_name": mariadb_database,
                "opensearch_endpoint": f"https://127.0.0.1:{closed_port()}",
            },
            models={"endpoint_timeout_s": 2},
        )


def test_cloud_profile_wires_the_aws_adapters(cloud) -> None:
    from vitrine.adapters.aws.opensearch_index import OpenSearchIndex
    from vitrine.adapters.aws.s3_store import S3Store
    from vitrine.adapters.aws.sagemaker_endpoint import SageMakerEndpoint
    from vitrine.adapters.local.offline_writer import OfflineWriter
    from vitrine.adapters.sql.catalog import SqlCatalog
    from vitrine.wiring import build_services

    services = build_services(cloud)
    assert isinstance(services.store, S3Store) and isinstance(services.uploads, S3Store)
    assert isinstance(services.catalog, SqlCatalog)
    assert isinstance(services.index, OpenSearchIndex)
    assert all(isinstance(e, SageMakerEndpoint) for e in services.endpoints.values())
    assert not isinstance(services.writer, OfflineWriter)
    assert services.catalog.count_products() == 0  # the schema was created through the secret's credentials
    services.store.put("products/SH-1/product.json", b"{}", "application/json")
    assert services.store.get("products/SH-1/product.json") == b"{}"
    assert services.match_threshold == (0.35, "default (run `vitrine calibrate`)")
    assert services.endpoints["grounding_dino"].endpoint_name == "vitrine-grounding-dino"


def test_cloud_health_says_degraded_when_opensearch_is_down(cloud, monkeypatch) -> None:
    from handlers import api
    from vitrine import wiring

    monkeypatch.setattr(wiring, "_services", wiring.build_services(cloud))
    monkeypatch.setattr(api._per_thread, "app", None, raising=False)
    try:
        response = api.handler(rest_event("GET", "/api/health"), LocalContext())
    finally:
        api._per_thread.app = None
    body = json.loads(response["body"])
    assert response["statusCode"] == 503 and body["status"] == "degraded"
    assert body["profile"] == "cloud" and "opensearch" in body["reason"].lower()
