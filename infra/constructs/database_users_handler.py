"""CloudFormation custom resource: Vitrine's per-application database users and the catalog schema.

Runs at deploy time in the VPC, signed in as the cluster's admin user (the only code that ever reads the admin
secret). For each application user it makes the secret's credentials valid (``CREATE USER IF NOT EXISTS`` +
``ALTER USER ... IDENTIFIED BY`` with the secret's current password), then gives the user exactly its
privileges on the catalog database (revoke all, grant the list), to the user and to its ``_clone`` twin that
Secrets Manager's multi-user rotation alternates with. Then it migrates every schema module it is given
(``vitrine.adapters.sql.<module>.migrate``: the catalog, then the others), so no application user needs DDL
and the read-only API user finds its tables on a fresh deploy.

Shipped with the Lambda runtime packages (``infra.bundling.handler_code(extra_modules=...)``) and the
dependencies layer (pymysql, SQLAlchemy). Delete leaves the users: the cluster, or its final snapshot, owns them.
"""

from __future__ import annotations

import importlib
import json
import re
import urllib.request
from typing import Any

PHYSICAL_ID = "vitrine-database-users"
SCHEMA_PACKAGE = "vitrine.adapters.sql."
FIRST_SCHEMA = "vitrine.adapters.sql.catalog"
"""Migrated first: the other modules' tables sit beside the catalog's."""
CLONE_SUFFIX = "_clone"
"""What Secrets Manager's multi-user rotation appends to the user name it alternates with."""
PRIVILEGES = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "INDEX", "DROP"})
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")


def _identifier(value: str, what: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ValueError(f"{what} {value!r} is not a plain identifier")
    return value


def _privileges(values: list[str]) -> str:
    unknown = set(values) - PRIVILEGES
    if unknown or not values:
        raise ValueError(f"privileges must be some of {sorted(PRIVILEGES)}, not {values}")
    return ", ".join(sorted(set(values)))


def _user_exists(cursor: Any, name: str) -> bool:
    cursor.execute("SELECT COUNT(*) FROM mysql.user WHERE user = %s AND host = '%%'", (name,))
    return cursor.fetchone()[0] > 0


def apply_users(connection: Any, database: str, users: list[dict[str, Any]]) -> list[str]:
    """Create or update each ``{"username", "password", "privileges"}`` on ``database``; the names touched."""
    database = _identifier(database, "database")
    touched = []
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4")
        for user in users:
            current = _identifier(user["username"], "user")
            privileges = _privileges(user["privileges"])
            cursor.execute("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (current, user["password"]))
            cursor.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (current, user["password"]))
            base = current.removesuffix(CLONE_SUFFIX)
            for name in (base, base + CLONE_SUFFIX):
                if not _user_exists(cursor, name):
                    continue
                cursor.execute("REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s@'%%'", (name,))
                cursor.execute(f"GRANT {privileges} ON `{database}`.* TO %s@'%%'", (name,))
                touched.append(name)
    return touched


def _secret(client: Any, arn: str) -> dict[str, Any]:
    return json.loads(client.get_secret_value(SecretId=arn)["SecretString"])


def apply(properties: dict[str, Any], client: Any) -> None:
    """Users, then schema: everything the resource's properties ask for."""
    import pymysql

    from vitrine.adapters.aws.db_secret import SecretCredentials
    from vitrine.adapters.sql.catalog import catalog_engine

    schemas = sorted(properties["Schemas"], key=lambda module: (module != FIRST_SCHEMA, module))
    for name in schemas:
        if not name.startswith(SCHEMA_PACKAGE):
            raise ValueError(f"{name} is not a schema module of {SCHEMA_PACKAGE.rstrip('.')}")
    admin = _secret(client, properties["AdminSecretArn"])
    users = []
    for user in properties["Users"]:
        secret = _secret(client, user["SecretArn"])
        users.append({**secret, "privileges": user["Privileges"]})
    connection = pymysql.connect(
        host=admin["host"],
        port=int(admin.get("port") or 3306),
        user=admin["username"],
        password=admin["password"],
        autocommit=True,
        connect_timeout=10,
    )
    try:
        apply_users(connection, properties["Database"], users)
    finally:
        connection.close()
    engine = catalog_engine(
        SecretCredentials(client, properties["AdminSecretArn"]).url(properties["Database"])
    )
    try:
        for name in schemas:
            importlib.import_module(name).migrate(engine)
    finally:
        engine.dispose()


def respond(event: dict[str, Any], status: str, reason: str = "") -> None:
    """Tell CloudFormation (the presigned S3 URL, reached through the S3 gateway endpoint)."""
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason or "see the function's log",
            "PhysicalResourceId": PHYSICAL_ID,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": {},
        }
    ).encode()
    request = urllib.request.Request(
        event["ResponseURL"],
        data=body,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(body))},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        answer.read()


def handler(event: dict[str, Any], context: Any) -> None:
    """Create and Update apply everything again (idempotent); CloudFormation always gets an answer."""
    try:
        if event["RequestType"] != "Delete":
            import boto3

            apply(event["ResourceProperties"], boto3.client("secretsmanager"))
        respond(event, "SUCCESS")
    except Exception as error:  # every failure must reach CloudFormation, or the deploy hangs for an hour
        print(f"database users failed: {type(error).__name__}: {error}")
        respond(event, "FAILED", f"{type(error).__name__}: {str(error)[:400]}")
