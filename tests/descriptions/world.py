"""A small world for the description pipeline's tests: real local adapters (SQLite catalog and description
store, a folder bucket) with one product and its indexed photo, and a fake attribute endpoint that speaks the
blip2_attributes JSON contract with answers the test chooses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import jpeg
from tests.fakes import JsonEndpoint
from vitrine.adapters.local.folder_store import FolderStore
from vitrine.adapters.sql.catalog import SqlCatalog
from vitrine.adapters.sql.descriptions import SqlDescriptionStore
from vitrine.catalog.domain import ImageStatus, Product, ProductImage
from vitrine.descriptions.describe import ProductDescribing
from vitrine.descriptions.quality import TextRules
from vitrine.descriptions.schema import load_schemas
from vitrine.kernel.ports import TextWriter
from vitrine.models.attribute_reader import AttributeReader

PRODUCT = Product(
    code="SH-1", name="Oxford shirt", brand="Kestrel", category="shirt", price=39.5, currency="EUR"
)
PHOTO_KEY = "products/SH-1/01-front.jpg"
ANSWERS = {
    "What is the fabric of the shirt?": "cotton",
    "What is the fit of the shirt?": "not visible",
    "What is the collar of the shirt?": "button down collar",
    "What is the pattern of the shirt?": "Pattern: Striped",
    "What is the neckline of the shirt?": "i can't tell",
    "What is the sleeve length of the shirt?": "long sleeves",
    "What is the sleeve styling of the shirt?": "not visible",
    "What is the colour of the shirt?": "navy blue",
}
"""Real-looking BLIP-2 answers; what they say: fabric cotton, collar button-down, pattern striped, sleeve
length long, colour navy. Fit, neckline and sleeve styling are not visible."""
GIVEN = {
    "fabric": "cotton",
    "collar": "button-down",
    "pattern": "striped",
    "sleeve_length": "long",
    "colour": "navy",
}


@dataclass
class World:
    catalog: SqlCatalog
    descriptions: SqlDescriptionStore
    store: FolderStore
    blip2: JsonEndpoint

    def describing(self, writer: TextWriter, **rules: Any) -> ProductDescribing:
        return ProductDescribing(
            self.store,
            self.catalog,
            self.descriptions,
            AttributeReader(self.blip2),
            writer,
            load_schemas(),
            TextRules(**rules),
            tone="friendly, factual",
            max_image_bytes=10_000_000,
            max_image_pixels=10_000_000,
            clock=lambda: 1_700_000_000.0,
        )


def attribute_endpoint(answers: dict[str, str] = ANSWERS) -> JsonEndpoint:
    return JsonEndpoint(
        "blip2_attributes", lambda request: {"answers": [answers.get(q, "") for q in request["questions"]]}
    )


def make_world(tmp_path: Path, answers: dict[str, str] = ANSWERS) -> World:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    world = World(
        SqlCatalog(url),
        SqlDescriptionStore(url),
        FolderStore(tmp_path / "bucket"),
        attribute_endpoint(answers),
    )
    world.catalog.upsert_product(PRODUCT)
    world.store.put(PHOTO_KEY, jpeg(pattern=10), "image/jpeg")
    world.catalog.save_image(
        ProductImage(image_id="img-1", product_code=PRODUCT.code, key=PHOTO_KEY, status=ImageStatus.INDEXED)
    )
    return world
