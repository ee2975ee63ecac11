"""A warm function follows a database password rotation: the catalog engine re-reads its user's secret when
the server refuses a new connection (MySQL 1045) and signs in again, without a cold start.

Secrets Manager is a botocore ``Stubber``; the database is the real MariaDB of the developers' and CI
machines, where a user of our own has its password changed as Secrets Manager's rotation would.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import Stubber

from tests.conftest import MARIADB, empty_mariadb, mariadb_admin
from vitrine.adapters.aws.db_secret import SecretCredentials
from vitrine.adapters.sql.catalog import SqlCatalog
from vitrine.errors import Unavailable

ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:vitrine-db-ingest-AbCdEf"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    return boto3.client("secretsmanager", region_name="eu-west-1")


def _answer(username: str, password: str) -> dict[str, object]:
    secret = {"host": MARIADB["host"], "port": MARIADB["port"], "username": username, "password": password}
    return {"ARN": ARN, "Name": "vitrine-db-ingest", "SecretString": json.dumps(secret)}


def test_db_credentials_refresh_reads_the_secret_once_until_asked_afresh(client) -> None:
    now = [100.0]
    credentials = SecretCredentials(client, ARN, clock=lambda: now[0])
    with Stubber(client) as stub:
        stub.add_response("get_secret_value", _answer("u", "old"), {"SecretId": ARN})
        stub.add_response("get_secret_value", _answer("u", "new"), {"SecretId": ARN})

        assert credentials.connect_params()["password"] == "old"
        assert credentials.connect_params()["password"] == "old"  # cached: no second call
        now[0] += 5
        assert credentials.connect_params(fresh=True)["password"] == "new"
        # A burst of refusals within a second re-reads once, not once per connection.
        assert credentials.connect_params(fresh=True)["password"] == "new"
        stub.assert_no_pending_responses()


@pytest.fixture
def rotated_user(mariadb_database: str) -> Iterator[tuple[str, str]]:
    """A database user of our own (name, database) with every privilege on a fresh database."""
    url = empty_mariadb(mariadb_database)
    database = url.rsplit("/", 1)[1]
    user = f"vt_rot_{uuid.uuid4().hex[:8]}"
    with mariadb_admin() as admin, admin.cursor() as cursor:
        cursor.execute("CREATE USER %s@'127.0.0.1' IDENTIFIED BY %s", (user, "first-password"))
        cursor.execute(f"GRANT ALL PRIVILEGES ON `{database}`.* TO %s@'127.0.0.1'", (user,))
    try:
        yield user, database
    finally:
        with mariadb_admin() as admin, admin.cursor() as cursor:
            cursor.execute("DROP USER IF EXISTS %s@'127.0.0.1'", (user,))


def _rotate(user: str, password: str) -> None:
    """What the rotation does to the server: a new password, and (Aurora dropping idle connections, or the
    pool recycling them) the warm function's connections gone, so its next request needs a new one."""
    with mariadb_admin() as admin, admin.cursor() as cursor:
        cursor.execute("ALTER USER %s@'127.0.0.1' IDENTIFIED BY %s", (user, password))
        cursor.execute("SELECT id FROM information_schema.processlist WHERE user = %s", (user,))
        for (connection_id,) in cursor.fetchall():
            cursor.execute("KILL %s", (connection_id,))


@pytest.mark.mariadb
def test_db_credentials_refresh_reconnects_after_a_rotation_without_a_cold_start(
    client, rotated_user: tuple[str, str]
) -> None:
    user, database = rotated_user
    with Stubber(client) as stub:
        stub.add_response("get_secret_value", _answer(user, "first-password"), {"SecretId": ARN})
        credentials = SecretCredentials(client, ARN, min_reread_interval_s=0)
        catalog = SqlCatalog(credentials.url(database), credentials=credentials)  # the cold start
        assert catalog.count_products() == 0

        _rotate(user, "second-password")
        stub.add_response("get_secret_value", _answer(user, "second-password"), {"SecretId": ARN})

        # Same process, same catalog object: the refused sign-in (1045) re-reads the secret and succeeds.
        assert catalog.count_products() == 0
        stub.assert_no_pending_responses()
        catalog.close()


@pytest.mark.mariadb
def test_db_credentials_refresh_without_a_credential_source_fails_until_a_cold_start(
    client, rotated_user: tuple[str, str]
) -> None:
    """What the refresh fixes: a URL read once at cold start keeps the old password after a rotation."""
    user, database = rotated_user
    with Stubber(client) as stub:
        stub.add_response("get_secret_value", _answer(user, "first-password"), {"SecretId": ARN})
        catalog = SqlCatalog(SecretCredentials(client, ARN).url(database))
    assert catalog.count_products() == 0

    _rotate(user, "second-password")

    with pytest.raises(Unavailable, match="1045"):
        catalog.count_products()
    catalog.close()
