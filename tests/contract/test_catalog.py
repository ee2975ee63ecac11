"""The Catalog contract, run against SQLite (local profile) and MariaDB (stands in for Aurora MySQL).

MariaDB is expected at 127.0.0.1:3306 (root, no password). Each test session works in a throwaway
database that is dropped at the end; each test gets it empty. Unreachable MariaDB skips these tests on a
developer machine, but fails them under ``CI=true``: CI must not go green without the MySQL adapter.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, inspect, text

from tests.conftest import empty_mariadb, mariadb_admin
from vitrine.adapters.sql.catalog import MIGRATIONS, Migration, SqlCatalog, catalog_engine, migrate
from vitrine.catalog.domain import Product, ProductImage
from vitrine.errors import Unavailable


def _sqlite_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'catalog.db'}"


def _mariadb_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return empty_mariadb(request.getfixturevalue("mariadb_database"))


ADAPTERS: dict[str, Callable[[pytest.FixtureRequest, Path], str]] = {
    "sqlite": _sqlite_url,
    "mariadb": _mariadb_url,
}


@pytest.fixture(params=sorted(ADAPTERS))
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each adapter, as a SQLAlchemy URL."""
    return ADAPTERS[request.param](request, tmp_path)


@pytest.fixture
def catalog(url: str) -> Iterator[SqlCatalog]:
    opened = SqlCatalog(url)
    yield opened
    opened.close()


def image(image_id: str, product_code: str = "SKU-1", **fields: object) -> ProductImage:
    values: dict[str, object] = {"key": f"products/{product_code}/{image_id}.jpg", "status": "indexed"}
    values.update(fields)
    return ProductImage(image_id=image_id, product_code=product_code, **values)  # type: ignore[arg-type]


# -- schema -----------------------------------------------------------------------------------------------


def test_catalog_schema_is_created_on_start(catalog: SqlCatalog, url: str) -> None:
    engine = catalog_engine(url)
    schema = inspect(engine)
    assert {"products", "product_images", "schema_version"} <= set(schema.get_table_names())
    indexed = {tuple(ix["column_names"]) for ix in schema.get_indexes("product_images")}
    assert {("product_code",), ("status",), ("updated_at",)} <= indexed
    engine.dispose()
    assert catalog.schema_version == MIGRATIONS[-1].version
    assert catalog.count_products() == 0
    assert set(catalog.count_images().values()) == {0}


def test_catalog_old_schema_is_upgraded_on_open_and_keeps_its_data(url: str) -> None:
    engine = catalog_engine(url)
    assert migrate(engine, MIGRATIONS[:1]) == 1
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO product_images (image_id, product_code, object_key, status, reason, sequencer,"
                " version, tags, box, updated_at) VALUES ('old', 'SKU-1', 'products/SKU-1/a.jpg', 'indexed',"
                " '', '0001', 'v1', '{}', NULL, 100.0)"
            )
        )
    assert not inspect(engine).get_indexes("product_images")
    engine.dispose()

    upgraded = SqlCatalog(url)
    assert upgraded.schema_version == MIGRATIONS[-1].version
    assert upgraded.get_image("old") == image(
        "old", key="products/SKU-1/a.jpg", sequencer="0001", version="v1", updated_at=100.0
    )
    assert [i.image_id for i in upgraded.list_images(status="indexed")] == ["old"]
    upgraded.close()
    engine = catalog_engine(url)
    assert len(inspect(engine).get_indexes("product_images")) == 3
    engine.dispose()


def test_catalog_reopen_runs_no_migration_twice(url: str) -> None:
    SqlCatalog(url).close()
    again = SqlCatalog(url)  # a step re-run would fail: its table or index already exists
    assert again.schema_version == MIGRATIONS[-1].version
    again.close()


def test_catalog_failed_migration_is_finished_by_a_fixed_start(url: str) -> None:
    def broken(conn: Connection) -> None:
        raise RuntimeError("step 3 has a bug")

    def fixed(conn: Connection) -> None:
        conn.execute(text("CREATE TABLE hotels (hotel_id VARCHAR(64) PRIMARY KEY)"))

    engine = catalog_engine(url)
    with pytest.raises(RuntimeError, match="bug"):
        migrate(engine, [*MIGRATIONS, Migration(3, "hotels", broken)])
    assert "hotels" not in inspect(engine).get_table_names()
    assert migrate(engine, [*MIGRATIONS, Migration(3, "hotels", fixed)]) == 3
    assert "hotels" in inspect(engine).get_table_names()
    engine.dispose()


# -- products ---------------------------------------------------------------------------------------------


def test_catalog_product_upsert_replaces_by_code(catalog: SqlCatalog) -> None:
    catalog.upsert_product(Product("SKU-1", name="Linen shirt", brand="Acme", category="tops", price=39.9))
    catalog.upsert_product(
        Product("SKU-1", name="Linen shirt, washed", brand="Acme", category="tops", price=None)
    )
    catalog.upsert_product(Product("SKU-2", name="Chinos", currency="EUR", url="https://shop.example/sku-2"))
    got = catalog.get_products(["SKU-1", "SKU-2"])
    assert got["SKU-1"] == Product(
        "SKU-1", name="Linen shirt, washed", brand="Acme", category="tops", price=None
    )
    assert got["SKU-2"] == Product("SKU-2", name="Chinos", currency="EUR", url="https://shop.example/sku-2")
    assert catalog.count_products() == 2


def test_catalog_get_products_leaves_out_missing_codes(catalog: SqlCatalog) -> None:
    catalog.upsert_product(Product("SKU-1", price=12.5))
    assert catalog.get_products(["nope", "SKU-1", "SKU-1", "also-nope"]) == {
        "SKU-1": Product("SKU-1", price=12.5)
    }
    assert catalog.get_products([]) == {}


def test_catalog_get_products_many_codes_at_once(catalog: SqlCatalog) -> None:
    for n in range(3):
        catalog.upsert_product(Product(f"SKU-{n}"))
    codes = [f"SKU-{n}" for n in range(1200)]  # more than one IN (...) list
    assert sorted(catalog.get_products(codes)) == ["SKU-0", "SKU-1", "SKU-2"]


def test_catalog_product_text_and_extra_round_trip_unicode(catalog: SqlCatalog) -> None:
    extra = {
        "colour": "écru",
        "名前": "麻のシャツ",
        "care": ["30°C", "no tumble"],
        "mood": "👗✨",
        "sizes": {"EU": 38},
    }
    product = Product(
        "SKU-ü", name="Chemise en lin — écru 👕", brand="Ørsted & Søn", price=1999.99, extra=extra
    )
    catalog.upsert_product(product)
    assert catalog.get_products(["SKU-ü"]) == {"SKU-ü": product}


# -- images -----------------------------------------------------------------------------------------------


def test_catalog_image_save_then_replace_by_id(catalog: SqlCatalog) -> None:
    tags = {"angle": "front", "has_model": True, "note": "vue de face"}
    first = image(
        "img-1", tags=tags, box=(0.1, 0.2, 0.9, 0.95), sequencer="0A1", version="v1", updated_at=10.0
    )
    catalog.save_image(first)
    assert catalog.get_image("img-1") == first
    replaced = image("img-1", status="filtered", reason="sole close-up", sequencer="0B2", updated_at=20.0)
    catalog.save_image(replaced)
    assert catalog.get_image("img-1") == replaced
    assert catalog.get_image("missing") is None
    assert sum(catalog.count_images().values()) == 1


def test_catalog_delete_image_forgets_the_record(catalog: SqlCatalog) -> None:
    catalog.save_image(ProductImage("img-del", "SH-1", "products/SH-1/product.json", "rejected", "bad JSON"))
    catalog.delete_image("img-del")
    catalog.delete_image("img-del")  # absent is fine
    assert catalog.get_image("img-del") is None
    assert catalog.count_images()["rejected"] == 0


def test_catalog_image_without_time_is_stamped_newest(catalog: SqlCatalog) -> None:
    catalog.save_image(image("old", updated_at=1000.0))
    catalog.save_image(image("new"))
    assert [i.image_id for i in catalog.list_images()] == ["new", "old"]


def test_catalog_list_images_newest_first_filtered_and_limited(catalog: SqlCatalog) -> None:
    base = 1_790_000_000.0  # epoch seconds: close times must keep their order (no single-precision floats)
    catalog.save_image(image("d", "SKU-1", updated_at=base + 0.25))
    catalog.save_image(image("c", "SKU-2", updated_at=base + 0.50, status="filtered", reason="close-up"))
    catalog.save_image(image("b", "SKU-1", updated_at=base + 0.75))
    catalog.save_image(image("a", "SKU-2", updated_at=base + 1.00))
    assert [i.image_id for i in catalog.list_images()] == ["a", "b", "c", "d"]
    assert [i.image_id for i in catalog.list_images(status="indexed")] == ["a", "b", "d"]
    assert [i.image_id for i in catalog.list_images(product_code="SKU-2")] == ["a", "c"]
    assert [i.image_id for i in catalog.list_images(status="indexed", product_code="SKU-2")] == ["a"]
    assert [i.image_id for i in catalog.list_images(limit=2)] == ["a", "b"]
    assert catalog.list_images(status="removed") == []


def test_catalog_count_images_by_status(catalog: SqlCatalog) -> None:
    for n, status in enumerate(["indexed", "indexed", "filtered", "rejected", "indexed"]):
        catalog.save_image(image(f"img-{n}", status=status))
    assert catalog.count_images() == {
        "indexed": 3,
        "filtered": 1,
        "rejected": 1,
        "duplicate": 0,
        "removed": 0,
    }


# -- concurrency and failure --------------------------------------------------------------------------------


def test_catalog_two_threads_writing(catalog: SqlCatalog) -> None:
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for n in range(40):
                catalog.upsert_product(Product(f"W{worker}-{n}", name=f"product {n}"))
                catalog.save_image(image(f"w{worker}-{n}", f"W{worker}-{n}"))
                catalog.upsert_product(Product("SHARED", name=f"written by {worker}"))
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(w,)) for w in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert catalog.count_products() == 81
    assert catalog.count_images()["indexed"] == 80


def starts_at_once(url: str, starts: int = 3) -> tuple[list[SqlCatalog], list[BaseException]]:
    """``starts`` catalogs opened on ``url`` by as many threads at once: those opened, and what was raised."""
    opened: list[SqlCatalog] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            opened.append(SqlCatalog(url))
        except BaseException as error:  # surfaced by the callers' assertions
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(starts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return opened, errors


def test_catalog_two_starts_at_once_migrate_once(url: str) -> None:
    opened, errors = starts_at_once(url)
    assert errors == []
    for each in opened:
        assert each.schema_version == MIGRATIONS[-1].version
        each.close()


def test_sqlite_files_opened_by_three_starts_at_once_all_open(tmp_path: Path) -> None:
    """A new SQLite file answers "database is locked" to the switch to WAL while another start holds it,
    at once (no busy timeout): seen in one of 30 new files with three starts; 40 files here."""
    failed = {}
    for n in range(40):
        opened, errors = starts_at_once(f"sqlite:///{tmp_path / f'{n}.db'}")
        for each in opened:
            each.close()
        if errors:
            failed[n] = errors
    assert failed == {}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


UNREACHABLE: dict[str, Callable[[Path], str]] = {
    "sqlite": lambda tmp_path: f"sqlite:///{tmp_path / 'no-such-folder' / 'catalog.db'}",
    "mariadb": lambda tmp_path: f"mysql+pymysql://root:s3cret@127.0.0.1:{_closed_port()}/vitrine",
}


@pytest.mark.parametrize("adapter", sorted(UNREACHABLE))
def test_catalog_database_down_is_unavailable(adapter: str, tmp_path: Path) -> None:
    with pytest.raises(Unavailable) as raised:
        SqlCatalog(UNREACHABLE[adapter](tmp_path))
    assert raised.value.status_code == 503
    assert "s3cret" not in raised.value.message


def test_catalog_mariadb_dropped_connections_are_replaced(
    mariadb_database: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Lambda keeps its pool between invocations while the server drops idle sessions: calls reconnect."""
    catalog = SqlCatalog(_mariadb_url(request, tmp_path))
    catalog.upsert_product(Product("SKU-1"))
    with mariadb_admin() as admin, admin.cursor() as cursor:
        cursor.execute("SELECT id FROM information_schema.processlist WHERE db = %s", (mariadb_database,))
        for (session,) in cursor.fetchall():
            cursor.execute(f"KILL {int(session)}")
    assert catalog.count_products() == 1
    catalog.close()
