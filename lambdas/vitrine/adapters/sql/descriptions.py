"""Product descriptions over SQLAlchemy Core: one table beside the catalog's, in the same database.

The engine (SQLite WAL with IMMEDIATE transactions locally, pre-ping and recycling on MySQL / Aurora), the
full-row upsert, the cross-start migration lock, the JSON encoding and the ``products`` table come from
:mod:`vitrine.adapters.sql.catalog`. The schema steps are this module's own (:data:`MIGRATIONS`), counted
in their own ``description_schema_version`` table, so the jobs' schemas grow independently in one database.

One row per product: the last good result (attributes with their raw answers and confidence, the text, the
provenance as JSON) and the last attempt's status and reason.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Double,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
)
from sqlalchemy.schema import CreateIndex, CreateTable

from vitrine.adapters.sql.catalog import (
    _TABLE_OPTIONS,
    CredentialSource,
    Migration,
    SqlStore,
    _dumps,
    _upsert_builder,
    products,
)
from vitrine.adapters.sql.catalog import migrate as migrate_schema
from vitrine.descriptions.domain import DescriptionStatus, ProductDescription, Provenance
from vitrine.descriptions.normalise import Reading

metadata = MetaData()

description_schema_version = Table(
    "description_schema_version",
    metadata,
    Column("version", BigInteger, primary_key=True, autoincrement=False),
    **_TABLE_OPTIONS,
)

product_descriptions = Table(
    "product_descriptions",
    metadata,
    Column("code", String(128), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("attributes", Text, nullable=False),
    Column("text", Text, nullable=True),
    Column("provenance", Text, nullable=True),
    Column("fingerprint", String(64), nullable=False),
    Column("attempted_at", Double, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("extra", Text, nullable=False),
    **_TABLE_OPTIONS,
)

_INDEXES = (Index("ix_product_descriptions_status", product_descriptions.c.status),)


def _create_tables(conn: Connection) -> None:
    conn.execute(CreateTable(product_descriptions))
    for index in _INDEXES:
        conn.execute(CreateIndex(index))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "product_descriptions: attributes, text, provenance, last attempt", _create_tables),
)


def migrate(
    engine: Engine, migrations: Sequence[Migration] = MIGRATIONS, version_table: Table | None = None
) -> int:
    """The catalog's migration procedure over this module's steps and version table; the version reached."""
    return migrate_schema(
        engine, migrations, description_schema_version if version_table is None else version_table
    )


def _row(record: ProductDescription) -> dict[str, Any]:
    return {
        "code": record.code,
        "status": record.status,
        "reason": record.reason,
        "attributes": _dumps([reading.to_dict() for reading in record.attributes]),
        "text": record.text,
        "provenance": None if record.provenance is None else _dumps(record.provenance.to_dict()),
        "fingerprint": record.fingerprint,
        "attempted_at": record.attempted_at,
        "attempts": record.attempts,
        "extra": _dumps(record.extra),
    }


def _record_from(row: Any) -> ProductDescription:
    return ProductDescription(
        code=row.code,
        status=DescriptionStatus(row.status),
        reason=row.reason,
        attributes=tuple(
            Reading(str(a["name"]), str(a["value"]), float(a["confidence"]), str(a["raw"]))
            for a in json.loads(row.attributes)
        ),
        text=row.text,
        provenance=None if row.provenance is None else Provenance.from_dict(json.loads(row.provenance)),
        fingerprint=row.fingerprint,
        attempted_at=row.attempted_at,
        attempts=row.attempts,
        extra=json.loads(row.extra),
    )


class SqlDescriptionStore(SqlStore):
    """:class:`~vitrine.descriptions.ports.DescriptionStore` over SQLite or MySQL (the catalog's URL)."""

    what = "description"
    schema = staticmethod(migrate)

    def __init__(self, url: str, credentials: CredentialSource | None = None) -> None:
        super().__init__(url, credentials)
        self._upsert = _upsert_builder(self._dialect)

    def get(self, code: str) -> ProductDescription | None:
        query = select(product_descriptions).where(product_descriptions.c.code == code)
        with self._guard("read a description"), self._engine.begin() as conn:
            row = conn.execute(query).first()
        return None if row is None else _record_from(row)

    def save(self, record: ProductDescription) -> None:
        with self._guard("save a description"), self._engine.begin() as conn:
            conn.execute(self._upsert(product_descriptions, _row(record)))

    def undescribed(self, *, after: str = "", limit: int = 100) -> list[str]:
        joined = products.outerjoin(product_descriptions, product_descriptions.c.code == products.c.code)
        query = (
            select(products.c.code)
            .select_from(joined)
            .where(products.c.code > after, product_descriptions.c.text.is_(None))
            .order_by(products.c.code)
            .limit(max(limit, 0))
        )
        with self._guard("list undescribed products"), self._engine.begin() as conn:
            return list(conn.execute(query).scalars())
