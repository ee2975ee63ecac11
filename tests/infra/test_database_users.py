"""The deploy-time database users resource against a real MySQL server (the developers' MariaDB): each
application user gets exactly its privileges, the public API's user only reads, the schema is migrated, and a
second run (a stack update) changes nothing."""

from __future__ import annotations

import importlib
import json
import uuid
from collections.abc import Iterator

import boto3
import pymysql
import pytest
from botocore.stub import Stubber

from infra.constructs import database_users_handler as handler
from infra.stacks.data import DB_USERS, schema_migrations
from tests.conftest import MARIADB, empty_mariadb, mariadb_admin
from vitrine.adapters.sql.catalog import MIGRATIONS, catalog_engine

pytestmark = pytest.mark.mariadb
ADMIN_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:admin-AbCdEf"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    return boto3.client("secretsmanager", region_name="eu-west-1")


@pytest.fixture
def cluster(mariadb_database: str) -> Iterator[dict[str, str]]:
    """A database, an admin user like Aurora's (every privilege, grant option), and two application users'
    names; everything made here is dropped afterwards."""
    empty_mariadb(mariadb_database)
    suffix = uuid.uuid4().hex[:8]
    names = {"admin": f"vt_adm_{suffix}", "reader": f"vt_rd_{suffix}", "writer": f"vt_wr_{suffix}"}
    with mariadb_admin() as root, root.cursor() as cursor:
        cursor.execute("CREATE USER %s@'%%' IDENTIFIED BY 'admin-pw'", (names["admin"],))
        cursor.execute("GRANT ALL PRIVILEGES ON *.* TO %s@'%%' WITH GRANT OPTION", (names["admin"],))
    try:
        yield {**names, "database": mariadb_database}
    finally:
        with mariadb_admin() as root, root.cursor() as cursor:
            for name in names.values():
                for user in (name, name + handler.CLONE_SUFFIX):
                    cursor.execute("DROP USER IF EXISTS %s@'%%'", (user,))


def _secret(arn: str, username: str, password: str) -> dict[str, object]:
    body = {"host": MARIADB["host"], "port": MARIADB["port"], "username": username, "password": password}
    return {"ARN": arn, "Name": arn.rsplit(":", 1)[-1], "SecretString": json.dumps(body)}


def _run(client, cluster: dict[str, str]) -> None:
    """One Create/Update of the resource: reads the admin's and each user's secret, then the admin's again
    (the migration's engine)."""
    users = [
        {"SecretArn": f"{ADMIN_ARN}-reader", "Privileges": list(DB_USERS["vitrine_reader"])},
        {"SecretArn": f"{ADMIN_ARN}-writer", "Privileges": list(DB_USERS["vitrine_writer"])},
    ]
    with Stubber(client) as stub:
        stub.add_response("get_secret_value", _secret(ADMIN_ARN, cluster["admin"], "admin-pw"))
        stub.add_response("get_secret_value", _secret(users[0]["SecretArn"], cluster["reader"], "reader-pw"))
        stub.add_response("get_secret_value", _secret(users[1]["SecretArn"], cluster["writer"], "writer-pw"))
        stub.add_response("get_secret_value", _secret(ADMIN_ARN, cluster["admin"], "admin-pw"))
        properties = {"AdminSecretArn": ADMIN_ARN, "Database": cluster["database"], "Users": users}
        handler.apply({**properties, "Schemas": schema_migrations()}, client)
        stub.assert_no_pending_responses()


def _as(user: str, password: str, database: str) -> pymysql.Connection:
    return pymysql.connect(
        host=MARIADB["host"],
        port=MARIADB["port"],
        user=user,
        password=password,
        database=database,
        autocommit=True,
    )


def test_database_users_get_exactly_their_privileges_and_the_schema_is_migrated(client, cluster) -> None:
    _run(client, cluster)
    database = cluster["database"]
    with _as(cluster["writer"], "writer-pw", database) as writer, writer.cursor() as cursor:
        cursor.execute("SELECT MAX(version) FROM schema_version")
        assert cursor.fetchone()[0] == max(step.version for step in MIGRATIONS)
        cursor.execute(
            "INSERT INTO products (code, name, brand, category, price, currency, url, extra, updated_at) "
            "VALUES ('p1', 'n', 'b', 'c', 1.0, 'EUR', 'u', '{}', 0)"
        )
        with pytest.raises(pymysql.err.OperationalError) as denied:
            cursor.execute("CREATE TABLE sneaky (id INT)")  # no DDL: the schema is migrated at deploy time
        assert denied.value.args[0] == 1142
    with _as(cluster["reader"], "reader-pw", database) as reader, reader.cursor() as cursor:
        cursor.execute("SELECT code FROM products")
        assert cursor.fetchall() == (("p1",),)
        with pytest.raises(pymysql.err.OperationalError) as denied:
            cursor.execute("DELETE FROM products")
        assert denied.value.args[0] == 1142


def test_database_users_read_only_api_user_starts_every_schema_module_after_the_deploy(
    client, cluster
) -> None:
    """A cold start migrates "on start" (``SqlCatalog(url)`` and its siblings): with the schema migrated at deploy
    time, that is only reads, so the read-only user starts."""
    _run(client, cluster)
    url = f"mysql+pymysql://{cluster['reader']}:reader-pw@{MARIADB['host']}:{MARIADB['port']}/{cluster['database']}"
    engine = catalog_engine(url)
    try:
        for name in schema_migrations():
            assert importlib.import_module(name).migrate(engine) >= 1, name
    finally:
        engine.dispose()


def test_database_users_second_run_is_a_no_op_and_covers_the_rotation_clone(client, cluster) -> None:
    _run(client, cluster)
    # The multi-user rotation's twin, as Secrets Manager creates it: same grants, its own password.
    clone = cluster["reader"] + handler.CLONE_SUFFIX
    with mariadb_admin() as root, root.cursor() as cursor:
        cursor.execute("CREATE USER %s@'%%' IDENTIFIED BY 'clone-pw'", (clone,))
        cursor.execute(f"GRANT SELECT, INSERT ON `{cluster['database']}`.* TO %s@'%%'", (clone,))

    _run(client, cluster)  # an update: the clone is brought to the reader's privileges too

    with _as(clone, "clone-pw", cluster["database"]) as reader, reader.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM products")
        with pytest.raises(pymysql.err.OperationalError):
            cursor.execute("INSERT INTO schema_version (version) VALUES (99)")


def test_database_users_migrate_only_vitrine_schema_modules(client) -> None:
    with Stubber(client), pytest.raises(ValueError, match="not a schema module"):  # refused before any call
        handler.apply(
            {"AdminSecretArn": ADMIN_ARN, "Database": "x", "Users": [], "Schemas": {"os": []}}, client
        )


def test_database_users_refuse_what_is_not_a_plain_identifier_or_privilege() -> None:
    with pytest.raises(ValueError, match="identifier"):
        handler.apply_users(None, "vitrine; DROP DATABASE x", [])
    with pytest.raises(ValueError, match="privileges"):
        handler._privileges(["ALL PRIVILEGES"])


@pytest.fixture
def response_url() -> Iterator[tuple[str, list[dict]]]:
    """A local stand-in for CloudFormation's presigned response URL, recording what is PUT to it."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[dict] = []

    class Recorder(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/response", received
    finally:
        server.shutdown()


@pytest.mark.parametrize(("request_type", "status"), [("Delete", "SUCCESS"), ("Create", "FAILED")])
def test_database_users_handler_always_answers_cloudformation(response_url, request_type, status) -> None:
    url, received = response_url
    event = {
        "RequestType": request_type,
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/Vitrine-Data/x",
        "RequestId": "r1",
        "LogicalResourceId": "DbUsers",
        "ResourceProperties": {},  # a Create without properties fails, and must still answer
    }
    handler.handler(event, None)
    assert [r["Status"] for r in received] == [status]
    assert received[0]["PhysicalResourceId"] == handler.PHYSICAL_ID


JOB_TABLES = {
    "vitrine.adapters.sql.hotels": ("hotels", "hotel_images"),
    "vitrine.adapters.sql.descriptions": ("product_descriptions",),
}
"""The tables of the hotel and description jobs, beside the catalog's: the users' grants are on the database, so
they cover these as they cover the catalog."""


def test_database_users_privileges_cover_the_hotel_and_description_tables(client, cluster) -> None:
    _run(client, cluster)
    database = cluster["database"]
    assert set(JOB_TABLES) < set(schema_migrations())
    tables = [table for names in JOB_TABLES.values() for table in names]
    with _as(cluster["writer"], "writer-pw", database) as writer, writer.cursor() as cursor:
        for module in JOB_TABLES:
            known = importlib.import_module(module).metadata.tables
            (name,) = [t for t in known if t.endswith("schema_version")]
            cursor.execute(f"SELECT MAX(version) FROM {name}")
            assert cursor.fetchone()[0] == max(schema_migrations()[module]), module
        # The writers (classification, covers, describe, operators) change rows, never the schema.
        for table in tables:
            cursor.execute(f"SELECT COUNT(*) FROM {table}")
            cursor.execute(f"DELETE FROM {table} WHERE 1 = 0")
        with pytest.raises(pymysql.err.OperationalError) as denied:
            cursor.execute("ALTER TABLE product_descriptions ADD COLUMN sneaky INT")
        assert denied.value.args[0] == 1142
    with _as(cluster["reader"], "reader-pw", database) as reader, reader.cursor() as cursor:
        # The public API reads galleries and descriptions, and writes nothing.
        for table in tables:
            cursor.execute(f"SELECT COUNT(*) FROM {table}")
            with pytest.raises(pymysql.err.OperationalError) as denied:
                cursor.execute(f"DELETE FROM {table}")
            assert denied.value.args[0] == 1142, table
