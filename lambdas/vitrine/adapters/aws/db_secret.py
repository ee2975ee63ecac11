"""The catalog database URL, read from the Aurora-managed secret in Secrets Manager.

Aurora keeps the credentials in a secret it rotates itself (JSON with ``host``, ``port``, ``username``,
``password``), so the URL is built at cold start instead of being a setting. Generated passwords contain
``@``, ``:``, ``/`` and ``%``: SQLAlchemy's :class:`~sqlalchemy.engine.URL` escapes them, where string
formatting would produce a URL that points at the wrong host.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError
from sqlalchemy.engine import URL

from vitrine.adapters.aws.errors import TRANSPORT_ERRORS, error_code, error_message, no_answer
from vitrine.errors import ConfigError, Unavailable

CONFIG_CODES = frozenset({"ResourceNotFoundException", "AccessDeniedException", "DecryptionFailure"})
"""Failures no retry fixes: the secret is wrong or the role may not read it."""

REQUIRED_KEYS = ("host", "username", "password")
MYSQL_PORT = 3306


def _secret(client: Any, secret_arn: str) -> dict[str, Any]:
    try:
        value = client.get_secret_value(SecretId=secret_arn)["SecretString"]
    except ClientError as error:
        message = (
            f"cannot read VITRINE_DB_SECRET_ARN {secret_arn}: {error_code(error)}: {error_message(error)}"
        )
        if error_code(error) in CONFIG_CODES:
            raise ConfigError(message) from error
        raise Unavailable(message) from error
    except TRANSPORT_ERRORS as error:
        raise no_answer("Secrets Manager", error) from error
    try:
        data = json.loads(value)
    except ValueError:
        raise ConfigError(f"VITRINE_DB_SECRET_ARN {secret_arn} is not a JSON secret") from None
    missing = [key for key in REQUIRED_KEYS if not isinstance(data, dict) or not data.get(key)]
    if missing:
        raise ConfigError(f"VITRINE_DB_SECRET_ARN {secret_arn} lacks {', '.join(missing)}")
    return data


def catalog_url_from_secret(client: Any, secret_arn: str, db_name: str) -> str:
    """A ``mysql+pymysql://`` URL for ``db_name`` with the secret's credentials, escaped."""
    secret = _secret(client, secret_arn)
    url = URL.create(
        "mysql+pymysql",
        username=secret["username"],
        password=secret["password"],
        host=secret["host"],
        port=int(secret.get("port") or MYSQL_PORT),
        database=db_name,
        query={"charset": "utf8mb4"},
    )
    return url.render_as_string(hide_password=False)
