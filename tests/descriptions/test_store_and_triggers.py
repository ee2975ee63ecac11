"""The description store on SQLite and MariaDB (same SQL), and what triggers describing: which products an
ingestion batch hands over, when a product needs describing, the sweep and backfill handler."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import empty_mariadb
from tests.descriptions.world import PHOTO_KEY, PRODUCT, make_world
from vitrine.adapters.local.offline_writer import OfflineWriter
from vitrine.adapters.sql.catalog import SqlCatalog
from vitrine.adapters.sql.descriptions import SqlDescriptionStore
from vitrine.catalog.domain import ImageStatus, Product, ProductImage
from vitrine.descriptions.describe import best_photo, codes_to_describe
from vitrine.descriptions.domain import (
    DescriptionStatus,
    ProductDescription,
    Provenance,
    fingerprint,
    needs_description,
)
from vitrine.descriptions.normalise import Reading
from vitrine.kernel.outcomes import Outcome

RECORD = ProductDescription(
    code="SH-1",
    status=DescriptionStatus.DESCRIBED,
    attributes=(Reading("colour", "navy", 1.0, "navy blue"), Reading("fit", "not visible", 0.0, "unsure")),
    text="A navy shirt — with émoji 👕 and long sleeves.",
    provenance=Provenance(
        "blip2_attributes",
        "offline (not AI-generated)",
        False,
        {"colour": "navy"},
        PHOTO_KEY,
        "tops",
        "en",
        1.5,
    ),
    fingerprint="abc",
    attempted_at=1.5,
    attempts=1,
)


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return empty_mariadb(request.getfixturevalue("mariadb_database"))


def test_store_round_trip_and_undescribed_paging(url: str) -> None:
    catalog, store = SqlCatalog(url), SqlDescriptionStore(url)
    for code in ("A-1", "A-2", "SH-1", "Z-9"):
        catalog.upsert_product(Product(code=code, name=code))

    assert store.get("SH-1") is None
    store.save(RECORD)
    store.save(
        ProductDescription("A-2", DescriptionStatus.FAILED, reason="throttled", attempted_at=2.0, attempts=3)
    )

    assert store.get("SH-1") == RECORD
    assert store.undescribed() == ["A-1", "A-2", "Z-9"]
    assert store.undescribed(after="A-1", limit=1) == ["A-2"]
    again = RECORD.attempt(DescriptionStatus.REJECTED, "bad text", 9.0)
    store.save(again)
    assert store.get("SH-1") == again and again.text == RECORD.text and again.attempts == 2
    assert SqlDescriptionStore(url).schema_version == 1  # a second start migrates nothing
    catalog.close()
    store.close()


def test_an_ingestion_batch_hands_over_saved_and_newly_indexed_products() -> None:
    outcomes = [
        Outcome("products/A/product.json", "product"),
        Outcome("products/B/01.jpg", ImageStatus.INDEXED),
        Outcome("products/A/02.jpg", ImageStatus.INDEXED),
        Outcome("products/C/03.jpg", ImageStatus.FILTERED),
        Outcome("products/D/04.jpg", "retry", "down"),
        Outcome("bad-key", "product"),
    ]

    assert codes_to_describe(outcomes) == ["A", "B"]


def test_when_a_product_needs_describing() -> None:
    plain = Product(code="P", name="Shirt")
    own = Product(code="P", name="Shirt", extra={"description": "Ours."})
    forced = Product(code="P", name="Shirt", extra={"description": "Ours.", "describe": True})
    done = ProductDescription(
        "P", DescriptionStatus.DESCRIBED, text="A text.", fingerprint=fingerprint(forced)
    )
    failed = ProductDescription("P", DescriptionStatus.FAILED, reason="throttled")

    assert needs_description(plain, None) and needs_description(plain, failed)
    assert not needs_description(plain, done)
    assert not needs_description(own, None)
    assert needs_description(forced, None) and not needs_description(forced, done)
    changed = Product(code="P", name="Shirt v2", extra={"describe": True})
    assert needs_description(changed, done)  # a new product.json with "describe": true: describe again


def test_the_main_photo_is_a_whole_view_first_in_key_order() -> None:
    def image(key: str, status=ImageStatus.INDEXED, extent="whole") -> ProductImage:
        return ProductImage(key, "P", key, status, tags={"whole_or_partial": extent})

    photos = [
        image("03-side.jpg"),
        image("01-detail.jpg", extent="partial"),
        image("02-front.jpg"),
        image("00.jpg", ImageStatus.FILTERED),
    ]

    assert best_photo(photos).key == "02-front.jpg"
    assert best_photo([image("01-detail.jpg", extent="partial")]).key == "01-detail.jpg"
    assert best_photo([]) is None


def test_no_photo_yet_is_pending_then_described_when_one_is_indexed(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    world.catalog.delete_image("img-1")
    describing = world.describing(OfflineWriter())

    assert describing.describe(PRODUCT.code).status == DescriptionStatus.PENDING
    world.catalog.save_image(ProductImage("img-1", PRODUCT.code, PHOTO_KEY, ImageStatus.INDEXED))
    outcomes = describing.after_ingest([Outcome(PHOTO_KEY, ImageStatus.INDEXED)])

    assert [o.status for o in outcomes] == ["described"]
    assert describing.after_ingest([Outcome(PHOTO_KEY, ImageStatus.INDEXED)])[0].status == "skipped"


def test_the_attribute_model_down_is_retried_and_a_refused_photo_rejected(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    describing = world.describing(OfflineWriter())
    world.blip2.down = True

    outcome = describing.describe(PRODUCT.code)

    assert outcome.retry and "timed out" in outcome.reason
    assert world.descriptions.get(PRODUCT.code).status == DescriptionStatus.FAILED
    world.blip2.down = False
    world.store.put(PHOTO_KEY, b"not an image", "image/jpeg")
    assert describing.describe(PRODUCT.code).status == DescriptionStatus.REJECTED


def test_describe_handler_sweeps_and_backfills(stack, monkeypatch: pytest.MonkeyPatch) -> None:
    from handlers.describe import handler
    from vitrine_dev.lambda_context import LocalContext

    codes = sorted(
        stack.catalog.get_products([p.name for p in (stack.settings.home / "demo" / "products").iterdir()])
    )
    swept = handler({"sweep": True, "limit": 5}, LocalContext())
    assert swept["failed"] == [] and swept["products"] <= 5

    batch = handler(
        {"Items": [{"Key": f"products/{codes[0]}/product.json"}], "BatchInput": {}}, LocalContext()
    )
    assert batch["products"] == 1 and batch.get("skipped") == 1  # described at ingestion already
    forced = handler({"codes": [codes[0]], "force": True}, LocalContext())
    assert forced.get("described") == 1 and forced["failed"] == []
