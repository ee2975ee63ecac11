"""The catalog database credentials, read from this function's database user's secret in Secrets Manager.

Each Vitrine function signs in as its own database user (read-only for the public API), whose secret
(JSON with ``host``, ``port``, ``username``, ``password``) Secrets Manager rotates. The URL is built at cold
start instead of being a setting. Generated passwords contain ``@``, ``:``, ``/`` and ``%``: SQLAlchemy's
:class:`~sqlalchemy.engine.URL` escapes them, where string formatting would produce a URL that points at the
wrong host.

A warm function outlives a rotation: :class:`SecretCredentials` keeps the secret it read and re-reads it when
asked to (``fresh=True``). The catalog engine asks after the server refuses a new connection's credentials
(MySQL 1045), so the function carries on with the rotated password instead of failing until a cold start
(``vitrine.adapters.sql.catalog.catalog_engine(url, credentials=...)``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError
from sqlalchemy.engine import URL

from vitrine.adapters.aws.errors import TRANSPORT_ERRORS, error_code, error_message, no_answer
from vitrine.errors import ConfigError, Unavailable

CONFIG_CODES = frozenset({"ResourceNotFoundException", "AccessDeniedException", "DecryptionFailure"})
"""Failures no retry fixes: the secret is wrong or the role may not read it."""

REQUIRED_KEYS = ("host", "username", "password")
MYSQL_PORT = 3306
MIN_REREAD_INTERVAL_S = 1.0
"""A burst of refused connections re-reads the secret once, not once per connection."""


def _secret(client: Any, secret_arn: str) -> dict[str, Any]:
    try:
        value = client.get_secret_value(SecretId=secret_arn)["SecretString"]
    except ClientError as error:
        message = (
            f"cannot read VITRINE_AWS_DB_SECRET_ARN {secret_arn}: {error_code(error)}: {error_message(error)}"
        )
        if error_code(error) in CONFIG_CODES:
            raise ConfigError(message) from error
        raise Unavailable(message) from error
    except TRANSPORT_ERRORS as error:
        raise no_answer("Secrets Manager", error) from error
    try:
        data = json.loads(value)
    except ValueError:
        raise ConfigError(f"VITRINE_AWS_DB_SECRET_ARN {secret_arn} is not a JSON secret") from None
    missing = [key for key in REQUIRED_KEYS if not isinstance(data, dict) or not data.get(key)]
    if missing:
        raise ConfigError(f"VITRINE_AWS_DB_SECRET_ARN {secret_arn} lacks {', '.join(missing)}")
    return data


class SecretCredentials:
    """The database user of one secret, read once and re-read on demand (after a rotation)."""

    def __init__(
        self,
        client: Any,
        secret_arn: str,
        *,
        min_reread_interval_s: float = MIN_REREAD_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._secret_arn = secret_arn
        self._min_interval = min_reread_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._secret: dict[str, Any] | None = None
        self._read_at = float("-inf")

    def secret(self, *, fresh: bool = False) -> dict[str, Any]:
        """The secret's JSON; ``fresh`` re-reads it unless it was read within the last second."""
        with self._lock:
            stale = fresh and self._clock() - self._read_at >= self._min_interval
            if self._secret is None or stale:
                self._secret = _secret(self._client, self._secret_arn)
                self._read_at = self._clock()
            return self._secret

    def connect_params(self, *, fresh: bool = False) -> dict[str, Any]:
        """PyMySQL ``connect`` keywords for the current user (what a new pooled connection signs in with)."""
        secret = self.secret(fresh=fresh)
        return {
            "user": secret["username"],
            "password": secret["password"],
            "host": secret["host"],
            "port": int(secret.get("port") or MYSQL_PORT),
        }

    def url(self, db_name: str) -> str:
        """A ``mysql+pymysql://`` URL for ``db_name`` with the current credentials, escaped."""
        secret = self.secret()
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


def catalog_url_from_secret(client: Any, secret_arn: str, db_name: str) -> str:
    """A ``mysql+pymysql://`` URL for ``db_name`` with the secret's credentials, escaped (read once)."""
    return SecretCredentials(client, secret_arn).url(db_name)
