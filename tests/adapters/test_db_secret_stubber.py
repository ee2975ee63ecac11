"""catalog_url_from_secret at the Secrets Manager boundary: the URL SQLAlchemy will connect with."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber
from sqlalchemy.engine import make_url

from vitrine.adapters.aws.db_secret import catalog_url_from_secret
from vitrine.errors import ConfigError, Unavailable

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:vitrine-db-AbCdEf"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    return boto3.client("secretsmanager", region_name="us-east-1")


def _secret(**values: object) -> dict[str, object]:
    return {"ARN": ARN, "Name": "vitrine-db", "SecretString": json.dumps(values)}


def test_db_secret_stubber_builds_an_escaped_mysql_url(client) -> None:
    password = "p@ss:w/rd%?#&="
    with Stubber(client) as stub:
        stub.add_response(
            "get_secret_value",
            _secret(host="db.cluster-x.rds.amazonaws.com", port=3307, username="admin", password=password),
            {"SecretId": ARN},
        )

        url = make_url(catalog_url_from_secret(client, ARN, "vitrine"))

    assert url.drivername == "mysql+pymysql"
    assert (url.username, url.password) == ("admin", password)
    assert (url.host, url.port, url.database) == ("db.cluster-x.rds.amazonaws.com", 3307, "vitrine")
    assert url.query == {"charset": "utf8mb4"}


def test_db_secret_stubber_defaults_the_mysql_port(client) -> None:
    with Stubber(client) as stub:
        stub.add_response("get_secret_value", _secret(host="h", username="u", password="p"))

        assert make_url(catalog_url_from_secret(client, ARN, "shop")).port == 3306


@pytest.mark.parametrize(
    "secret_string", [json.dumps({"host": "h", "username": "u"}), "not json", json.dumps(["h"])]
)
def test_db_secret_stubber_incomplete_secret_is_a_config_error(client, secret_string: str) -> None:
    with Stubber(client) as stub:
        stub.add_response("get_secret_value", {"ARN": ARN, "SecretString": secret_string})

        with pytest.raises(ConfigError, match="VITRINE_AWS_DB_SECRET_ARN"):
            catalog_url_from_secret(client, ARN, "vitrine")


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("ResourceNotFoundException", ConfigError),
        ("AccessDeniedException", ConfigError),
        ("InternalServiceError", Unavailable),
    ],
)
def test_db_secret_stubber_service_errors(client, code: str, error: type[Exception]) -> None:
    with Stubber(client) as stub:
        stub.add_client_error("get_secret_value", code, "nope", 400)

        with pytest.raises(error, match=code):
            catalog_url_from_secret(client, ARN, "vitrine")
