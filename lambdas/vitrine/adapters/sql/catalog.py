"""The catalog over SQLAlchemy Core: one set of SQL for SQLite (local) and MySQL / Aurora (cloud).

Only three things differ by dialect, and each is chosen once from the engine's dialect name: the engine
options (SQLite: WAL and real transactions for a threaded local server; MySQL: pre-ping and recycling
because Lambda keeps connections across invocations), the upsert construct, and how concurrent
starts are kept from migrating the schema twice.

The schema is created and upgraded on start by :data:`MIGRATIONS`: numbered steps, each run once, in
order, and recorded in ``schema_version``. A later job (hotels, covers) adds a step; it never edits one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import (
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
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, NoSuchModuleError, OperationalError
from sqlalchemy.schema import CreateTable

from vitrine.catalog.domain import ImageStatus, Product, ProductImage
from vitrine.errors import ConfigError, Unavailable

metadata = MetaData()

# Times and prices are DOUBLE: MySQL's FLOAT is single precision, which rounds an epoch time to minutes
# and would scramble newest-first order.

# ``mysql_charset`` is ignored by other dialects; utf8mb4 keeps 4-byte characters (emoji, rare CJK).
_TABLE_OPTIONS = {"mysql_charset": "utf8mb4", "mysql_engine": "InnoDB"}

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    **_TABLE_OPTIONS,
)

products = Table(
    "products",
    metadata,
    Column("code", String(128), primary_key=True),
    Column("name", Text, nullable=False),
    Column("brand", String(256), nullable=False),
    Column("category", String(128), nullable=False),
    Column("price", Double, nullable=True),
    Column("currency", String(8), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("extra", Text, nullable=False),
    Column("updated_at", Double, nullable=False),
    **_TABLE_OPTIONS,
)

product_images = Table(
    "product_images",
    metadata,
    Column("image_id", String(64), primary_key=True),
    Column("product_code", String(128), nullable=False),
    Column("object_key", String(1024), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("sequencer", String(64), nullable=False),
    Column("version", String(256), nullable=False),
    Column("tags", Text, nullable=False),
    Column("box", Text, nullable=True),
    Column("updated_at", Double, nullable=False),
    **_TABLE_OPTIONS,
)

# Declared apart from the tables so that ``CreateTable`` (version 1) does not emit them: they are version 2.
_IMAGE_INDEXES = (
    Index("ix_product_images_product_code", product_images.c.product_code),
    Index("ix_product_images_status", product_images.c.status),
    Index("ix_product_images_updated_at", product_images.c.updated_at),
)


@dataclass(frozen=True)
class Migration:
    """One schema step: ``apply`` runs once, when the stored version is below ``version``."""

    version: int
    description: str
    apply: Callable[[Connection], None]


def _create_core_tables(conn: Connection) -> None:
    for table in (products, product_images):
        conn.execute(CreateTable(table))


def _index_image_listings(conn: Connection) -> None:
    for index in _IMAGE_INDEXES:
        index.create(conn)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "products and product_images", _create_core_tables),
    Migration(2, "indexes for listing images by product, status and recency", _index_image_listings),
)

_IMAGE_STATUSES: tuple[str, ...] = tuple(ImageStatus)
_MIGRATION_LOCK = "vitrine_schema"
_MIGRATION_LOCK_TIMEOUT_S = 60
_SQLITE_BUSY_S = 30  # how long a SQLite connection waits for another writer
_IN_CHUNK = 500  # codes per IN (...) list: well under SQLite's bound-parameter limit


MYSQL_ACCESS_DENIED = 1045
"""ER_ACCESS_DENIED_ERROR: the server refused the user name or password (e.g. after a rotation)."""


class CredentialSource(Protocol):
    """Where a MySQL engine gets the user a new connection signs in as
    (``vitrine.adapters.aws.db_secret.SecretCredentials``): ``fresh`` re-reads them after a refusal."""

    def connect_params(self, *, fresh: bool = False) -> dict[str, Any]: ...


def catalog_engine(url: str, credentials: CredentialSource | None = None) -> Engine:
    """An engine tuned for the dialect; :class:`ConfigError` for a URL naming no supported database.

    Anything that migrates must use it: only its SQLite engine runs DDL inside real transactions. With
    ``credentials`` (MySQL only), every new connection signs in with their current user and password, and one
    the server refuses (1045, a rotated password) is retried once with credentials read afresh: a warm
    Lambda follows a rotation without a cold start.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise ConfigError(f"invalid catalog URL: {error}") from None
    backend = parsed.get_backend_name()
    try:
        if backend == "sqlite":
            engine = create_engine(
                parsed, connect_args={"check_same_thread": False, "timeout": _SQLITE_BUSY_S}
            )
            event.listen(engine, "connect", _sqlite_on_connect)
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        if backend in ("mysql", "mariadb"):
            # Lambda freezes between invocations and Aurora drops idle connections: ping before use and
            # recycle well before the server's timeout; a down database must fail fast, not hang a request.
            engine = create_engine(
                parsed,
                pool_pre_ping=True,
                pool_recycle=280,
                pool_size=4,
                max_overflow=4,
                pool_timeout=10,
                connect_args={"connect_timeout": 5, "charset": "utf8mb4"},
            )
            if credentials is not None:
                event.listen(engine, "do_connect", _signing_in_with(credentials))
            return engine
    except NoSuchModuleError as error:
        raise ConfigError(f"catalog URL needs a driver that is not installed: {error}") from None
    raise ConfigError(f"catalog URL must be sqlite:/// or mysql+pymysql://, not {backend}://")


def _signing_in_with(credentials: CredentialSource) -> Callable[..., Any]:
    """A ``do_connect`` hook: the current credentials, and fresh ones once if the server refuses them."""

    def do_connect(dialect: Any, _record: Any, cargs: tuple[Any, ...], cparams: dict[str, Any]) -> Any:
        cparams.update(credentials.connect_params())
        try:
            return dialect.connect(*cargs, **cparams)
        except dialect.loaded_dbapi.OperationalError as error:
            if not error.args or error.args[0] != MYSQL_ACCESS_DENIED:
                raise
        cparams.update(credentials.connect_params(fresh=True))
        return dialect.connect(*cargs, **cparams)

    return do_connect


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers run beside a writer; turning off pysqlite's own transaction handling lets
    :func:`_sqlite_begin` open real transactions, so a migration step (DDL included) is all-or-nothing."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_S * 1000}")
    _wal(cursor)
    cursor.close()


def _wal(cursor: Any) -> None:
    """Switch the file to WAL (it stays so). SQLite answers "database is locked" to the switch at once,
    without the busy timeout, while another connection holds the new file (starts at once, seen one in 30
    with three): the switch is tried again for as long as the busy timeout would have waited."""
    import sqlite3

    deadline = time.monotonic() + _SQLITE_BUSY_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_begin(conn: Connection) -> None:
    """IMMEDIATE takes the write lock up front: two writers queue on the busy timeout instead of one
    failing with SQLITE_BUSY when it upgrades a read lock (and two starts cannot both migrate)."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def _migration_lock(conn: Connection) -> Iterator[None]:
    """Serialise concurrent starts (many Lambdas cold-starting at once) across a migration.

    MySQL commits implicitly around DDL, so a row lock would not survive the first step: a named
    lock, held by the session, does (named after the database: the names are server-wide). SQLite needs
    nothing more: each step re-reads the version inside an IMMEDIATE transaction, which already
    excludes every other writer.
    """
    if conn.dialect.name == "sqlite":
        yield
        return
    name = f"{_MIGRATION_LOCK}_{conn.engine.url.database}"[:64]  # MySQL's limit on lock names
    got = conn.exec_driver_sql("SELECT GET_LOCK(%s, %s)", (name, _MIGRATION_LOCK_TIMEOUT_S)).scalar_one()
    conn.commit()
    if got != 1:
        raise Unavailable("another start is migrating the catalog schema; retry shortly")
    try:
        yield
    finally:
        conn.exec_driver_sql("SELECT RELEASE_LOCK(%s)", (name,))
        conn.commit()


def migrate(
    engine: Engine, migrations: Sequence[Migration] = MIGRATIONS, version_table: Table = schema_version
) -> int:
    """Apply the steps above the version stored in ``version_table``, in order, each with its version bump
    in one transaction; return the version reached. Every schema module (catalog, hotels, descriptions)
    migrates through this one procedure, each with its own steps and version table.

    On SQLite a step and its bump commit or roll back together, DDL included. MySQL commits implicitly
    around DDL, which is why the bump follows every step instead of the whole upgrade: a failed upgrade
    restarts at the step that failed and never re-runs one that succeeded. ``engine`` must come from
    :func:`catalog_engine` (its SQLite engine is the one with real transactions).
    """

    def stored(conn: Connection) -> int:
        return conn.execute(select(func.max(version_table.c.version))).scalar() or 0

    with engine.connect() as conn, _migration_lock(conn):
        with conn.begin():
            version_table.create(conn, checkfirst=True)
        for step in sorted(migrations, key=lambda m: m.version):
            with conn.begin():
                # Read inside the step's transaction: on SQLite it is IMMEDIATE, so a concurrent start
                # that got here first has committed the step by now and this one skips it.
                if stored(conn) >= step.version:
                    continue
                step.apply(conn)
                conn.execute(version_table.delete())
                conn.execute(version_table.insert().values(version=step.version))
        with conn.begin():
            return stored(conn)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _product_row(product: Product) -> dict[str, Any]:
    return {
        "code": product.code,
        "name": product.name,
        "brand": product.brand,
        "category": product.category,
        "price": product.price,
        "currency": product.currency,
        "url": product.url,
        "extra": _dumps(product.extra),
        "updated_at": time.time(),
    }


def _product_from(row: Any) -> Product:
    return Product(
        code=row.code,
        name=row.name,
        brand=row.brand,
        category=row.category,
        price=row.price,
        currency=row.currency,
        url=row.url,
        extra=json.loads(row.extra),
    )


def _image_row(image: ProductImage) -> dict[str, Any]:
    """The record of an image; an image saved without a time is stamped now, so newest-first holds."""
    return {
        "image_id": image.image_id,
        "product_code": image.product_code,
        "object_key": image.key,
        "status": image.status,
        "reason": image.reason,
        "sequencer": image.sequencer,
        "version": image.version,
        "tags": _dumps(image.tags),
        "box": None if image.box is None else _dumps(list(image.box)),
        "updated_at": image.updated_at or time.time(),
    }


def _image_from(row: Any) -> ProductImage:
    return ProductImage(
        image_id=row.image_id,
        product_code=row.product_code,
        key=row.object_key,
        status=ImageStatus(row.status),
        reason=row.reason,
        sequencer=row.sequencer,
        version=row.version,
        tags=json.loads(row.tags),
        box=None if row.box is None else tuple(json.loads(row.box)),
        updated_at=row.updated_at,
    )


def _upsert_builder(dialect: str) -> Callable[[Table, dict[str, Any]], Any]:
    """Insert-or-replace by primary key, in the dialect's own single statement (no read-then-write race)."""

    def sqlite_upsert(table: Table, row: dict[str, Any]) -> Any:
        stmt = sqlite.insert(table).values(row)
        keys = [c.name for c in table.primary_key.columns]
        return stmt.on_conflict_do_update(
            index_elements=keys, set_={name: stmt.excluded[name] for name in row if name not in keys}
        )

    def mysql_upsert(table: Table, row: dict[str, Any]) -> Any:
        stmt = mysql.insert(table).values(row)
        keys = {c.name for c in table.primary_key.columns}
        return stmt.on_duplicate_key_update({name: stmt.inserted[name] for name in row if name not in keys})

    return sqlite_upsert if dialect == "sqlite" else mysql_upsert  # catalog_engine admits only these two


class SqlStore:
    """What every store on the catalog database shares: an engine from :func:`catalog_engine`, its schema
    migrated at start, and every failure that means "cannot reach or use the database" surfaced as
    :class:`~vitrine.errors.Unavailable` (HTTP 503, retry), never as a driver exception.

    Subclasses name their ``schema`` (a module's ``migrate``) and what they store, for the messages.
    """

    what = "catalog"

    @staticmethod
    def schema(engine: Engine) -> int:
        return migrate(engine)

    def __init__(self, url: str, credentials: CredentialSource | None = None) -> None:
        self._engine = catalog_engine(url, credentials)
        self._dialect = self._engine.dialect.name
        self._where = self._engine.url.render_as_string(hide_password=True)
        with self._guard(f"migrate the {self.what} schema"):
            self.schema_version = self.schema(self._engine)

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Refused or dropped connections, timeouts and lock waits become :class:`Unavailable`."""
        try:
            yield
        except (OperationalError, InterfaceError) as error:
            raise Unavailable(
                f"{self.what} database {self._where} unavailable ({action}): {error.orig}"
            ) from error

    def close(self) -> None:
        """Close pooled connections (a local server shutting down; tests)."""
        self._engine.dispose()


class SqlCatalog(SqlStore):
    """:class:`~vitrine.catalog.ports.Catalog` over SQLite (``sqlite:///path``) or MySQL (``mysql+pymysql://...``)."""

    def __init__(self, url: str, credentials: CredentialSource | None = None) -> None:
        super().__init__(url, credentials)
        self._upsert = _upsert_builder(self._dialect)

    def upsert_product(self, product: Product) -> None:
        with self._guard("save a product"), self._engine.begin() as conn:
            conn.execute(self._upsert(products, _product_row(product)))

    def get_products(self, codes: Sequence[str]) -> dict[str, Product]:
        wanted = list(dict.fromkeys(codes))
        found: dict[str, Product] = {}
        with self._guard("read products"), self._engine.begin() as conn:
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start : start + _IN_CHUNK]
                for row in conn.execute(select(products).where(products.c.code.in_(chunk))):
                    found[row.code] = _product_from(row)
        return found

    def count_products(self) -> int:
        with self._guard("count products"), self._engine.begin() as conn:
            return conn.execute(select(func.count()).select_from(products)).scalar_one()

    def save_image(self, image: ProductImage) -> None:
        with self._guard("save an image record"), self._engine.begin() as conn:
            conn.execute(self._upsert(product_images, _image_row(image)))

    def delete_image(self, image_id: str) -> None:
        with self._guard("delete an image record"), self._engine.begin() as conn:
            conn.execute(product_images.delete().where(product_images.c.image_id == image_id))

    def get_image(self, image_id: str) -> ProductImage | None:
        with self._guard("read an image record"), self._engine.begin() as conn:
            row = conn.execute(select(product_images).where(product_images.c.image_id == image_id)).first()
        return None if row is None else _image_from(row)

    def list_images(
        self, status: str | None = None, product_code: str | None = None, limit: int = 1000
    ) -> list[ProductImage]:
        query = select(product_images)
        if status is not None:
            query = query.where(product_images.c.status == status)
        if product_code is not None:
            query = query.where(product_images.c.product_code == product_code)
        query = query.order_by(product_images.c.updated_at.desc(), product_images.c.image_id.desc())
        with self._guard("list image records"), self._engine.begin() as conn:
            return [_image_from(row) for row in conn.execute(query.limit(max(limit, 0)))]

    def image_ids(self, status: str) -> set[str]:
        query = select(product_images.c.image_id).where(product_images.c.status == status)
        with self._guard("list image ids"), self._engine.begin() as conn:
            return set(conn.execute(query).scalars())

    def count_images(self) -> dict[str, int]:
        """Every known status with its count (zeros included, so a dashboard shows them all)."""
        counts = dict.fromkeys(_IMAGE_STATUSES, 0)
        query = select(product_images.c.status, func.count()).group_by(product_images.c.status)
        with self._guard("count image records"), self._engine.begin() as conn:
            counts.update({status: n for status, n in conn.execute(query)})
        return counts
