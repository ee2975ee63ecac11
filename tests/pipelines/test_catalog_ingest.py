"""Catalog ingestion over the real local adapters (folder bucket, SQLite catalog, FAISS index) with
JSON-contract fake models, so each test decides what the models answer."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from tests.conftest import jpeg
from tests.fakes import detector, embedder
from vitrine.adapters.local.faiss_index import FaissIndex
from vitrine.adapters.local.folder_store import FolderStore
from vitrine.adapters.sql.catalog import SqlCatalog
from vitrine.catalog.domain import ImageTags
from vitrine.catalog.filtering import load_rules
from vitrine.catalog.ingest import CatalogIngestion, image_id_for
from vitrine.errors import BadInput, Unavailable
from vitrine.kernel.events import ObjectEvent
from vitrine.models.detector import Detector
from vitrine.models.embedder import Embedder

BUCKET = "bucket"


class Tagger:
    """An ImageTagger whose tags the test sets."""

    name = "test"

    def __init__(self) -> None:
        self.tags = ImageTags(False, 0, False, False, "front", "whole")
        self.calls: list[int] = []
        self.refuse: bytes | None = None
        self.down = False

    def tag(self, image: bytes, content_type: str) -> ImageTags:
        return self.tag_many([(image, content_type)])[0]

    def tag_many(self, images: list[tuple[bytes, str]]) -> list[ImageTags]:
        self.calls.append(len(images))
        if self.down:
            raise Unavailable("tagger timed out")
        if any(image == self.refuse for image, _ in images):
            raise BadInput("the tagger cannot read this image")
        return [self.tags for _ in images]


def png_bomb() -> bytes:
    """A PNG whose header claims 100000 × 100000 pixels, with a little real data after it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )


class World:
    def __init__(self, root: Path) -> None:
        self.store = FolderStore(root / "bucket", name=BUCKET)
        self.catalog = SqlCatalog(f"sqlite:///{root / 'catalog.db'}")
        self.index = FaissIndex(root / "index")
        self.detect = detector([{"box": [0.1, 0.1, 0.9, 0.9], "score": 0.8, "label": "shirt"}])
        self.embed = embedder()
        self.tagger = Tagger()
        self.sequence = 0
        self.ingestion = self._ingestion()

    def _ingestion(self) -> CatalogIngestion:
        return CatalogIngestion(
            self.store,
            self.catalog,
            self.index,
            Detector(self.detect, "shirt .", 0.3, 0.25),
            Embedder(self.embed),
            self.tagger,
            load_rules(),
            max_image_bytes=2_000_000,
            max_image_pixels=4_000_000,
            duplicate_threshold=0.985,
        )

    def put(self, key: str, data: bytes) -> ObjectEvent:
        """Drop an object in the bucket; the event S3 would send."""
        info = self.store.put(key, data)
        self.sequence += 1
        return ObjectEvent(BUCKET, key, "created", f"{self.sequence:016X}", info.etag)

    def remove(self, key: str) -> ObjectEvent:
        self.store.delete(key)
        self.sequence += 1
        return ObjectEvent(BUCKET, key, "removed", f"{self.sequence:016X}")

    def record(self, key: str):
        return self.catalog.get_image(image_id_for(BUCKET, key))


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_image_is_detected_embedded_and_indexed_under_its_product(world: World) -> None:
    world.ingestion.ingest(
        [world.put("products/SH-1/product.json", b'{"name": "Red shirt", "category": "shirt"}')]
    )
    [outcome] = world.ingestion.ingest([world.put("products/SH-1/front.jpg", jpeg())])
    assert outcome.status == "indexed"
    record = world.record("products/SH-1/front.jpg")
    assert record.status == "indexed" and record.box == (0.1, 0.1, 0.9, 0.9)
    assert world.embed.requests[-1]["boxes"] == [[0.1, 0.1, 0.9, 0.9]]
    hits = world.index.search(
        world.embed.answer({"images": world.embed.requests[-1]["images"]})["embeddings"][0],
        k=5,
        category="shirt",
    )
    assert [h.product_code for h in hits] == ["SH-1"]


def test_same_event_three_times_has_one_effect(world: World) -> None:
    event = world.put("products/SH-1/front.jpg", jpeg())
    outcomes = [world.ingestion.ingest([event])[0] for _ in range(3)]
    assert [o.status for o in outcomes] == ["indexed", "skipped", "skipped"]
    assert len(world.embed.requests) == 1 and world.index.count() == 1


def test_older_event_after_newer_changes_nothing(world: World) -> None:
    old = world.put("products/SH-1/front.jpg", jpeg((10, 10, 10)))
    new = world.put("products/SH-1/front.jpg", jpeg((250, 250, 10)))
    assert world.ingestion.ingest([new])[0].status == "indexed"
    assert world.ingestion.ingest([old])[0].status == "skipped"
    assert world.record("products/SH-1/front.jpg").sequencer == new.sequencer


def test_replaced_object_replaces_its_vector(world: World) -> None:
    world.ingestion.ingest([world.put("products/SH-1/front.jpg", jpeg((10, 10, 10)))])
    first = world.embed.requests[-1]["images"][0]
    world.ingestion.ingest([world.put("products/SH-1/front.jpg", jpeg((250, 250, 10)))])
    second = world.embed.requests[-1]["images"][0]
    assert world.index.count() == 1
    new_vector = world.embed.answer({"images": [second]})["embeddings"][0]
    old_vector = world.embed.answer({"images": [first]})["embeddings"][0]
    assert world.index.search(new_vector, k=1)[0].score == pytest.approx(1.0, abs=1e-4)
    assert world.index.search(old_vector, k=1)[0].score < 0.9


def test_removed_object_leaves_the_index_and_is_recorded(world: World) -> None:
    world.ingestion.ingest([world.put("products/SH-1/front.jpg", jpeg())])
    [outcome] = world.ingestion.ingest([world.remove("products/SH-1/front.jpg")])
    assert outcome.status == "removed"
    assert world.index.count() == 0
    assert world.record("products/SH-1/front.jpg").status == "removed"


def test_near_duplicate_of_same_product_is_recorded_not_indexed(world: World) -> None:
    image = jpeg(pattern=16)
    world.ingestion.ingest([world.put("products/SH-1/a.jpg", image)])
    [outcome] = world.ingestion.ingest([world.put("products/SH-1/b.jpg", image)])
    assert outcome.status == "duplicate" and "products/SH-1/a.jpg" in outcome.reason
    assert world.index.count() == 1
    # The same picture under another product is not that product's duplicate.
    assert world.ingestion.ingest([world.put("products/SH-2/a.jpg", image)])[0].status == "indexed"


def test_duplicate_in_the_same_batch_is_caught(world: World) -> None:
    image = jpeg(pattern=8)
    outcomes = world.ingestion.ingest(
        [world.put("products/SH-1/a.jpg", image), world.put("products/SH-1/b.jpg", image)]
    )
    assert [o.status for o in outcomes] == ["indexed", "duplicate"]


def test_image_before_its_product_json_still_lands_and_gets_its_category(world: World) -> None:
    world.ingestion.ingest([world.put("products/HT-1/side.jpg", jpeg((0, 90, 0)))])
    vector = world.embed.answer({"images": world.embed.requests[-1]["images"]})["embeddings"][0]
    assert world.index.search(vector, k=5, category="hat") == []
    world.ingestion.ingest(
        [world.put("products/HT-1/product.json", b'{"name": "Green hat", "category": "Hat"}')]
    )
    calls = (len(world.detect.requests), len(world.embed.requests), len(world.tagger.calls))
    assert [h.product_code for h in world.index.search(vector, k=5, category="hat")] == ["HT-1"]
    assert calls == (1, 1, 1)  # only the index metadata changed: no model ran again for the category


def test_one_broken_catalog_read_retries_that_event_and_the_batch_goes_on(world: World, monkeypatch) -> None:
    events = [
        world.put(f"products/CB-{n}/front.jpg", jpeg((20 * n, 120, 40), pattern=5 + n)) for n in range(3)
    ]
    real = world.catalog.get_image
    broken = image_id_for(BUCKET, events[1].key)

    def get_image(image_id):
        if image_id == broken:
            raise ConnectionResetError("server closed the connection")
        return real(image_id)

    monkeypatch.setattr(world.catalog, "get_image", get_image)
    outcomes = world.ingestion.ingest(events)
    assert [o.status for o in outcomes] == ["indexed", "retry", "indexed"]
    assert "ConnectionResetError" in outcomes[1].reason or "closed" in outcomes[1].reason


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("notes.txt", b"hello", "not an image"),
        ("broken.jpg", jpeg()[:200], ""),
        ("empty.jpg", b"", ""),
        ("bomb.png", png_bomb(), "pixels"),
        ("text.jpg", b"this is not a jpeg at all", ""),
    ],
)
def test_bad_objects_are_rejected_with_a_reason_and_nothing_indexed(
    world: World, name: str, data: bytes, reason: str
) -> None:
    [outcome] = world.ingestion.ingest([world.put(f"products/SH-1/{name}", data)])
    assert outcome.status == "rejected"
    assert outcome.reason and reason in outcome.reason
    assert world.record(f"products/SH-1/{name}").reason == outcome.reason
    assert world.index.count() == 0


def test_key_outside_the_layout_is_rejected(world: World) -> None:
    [outcome] = world.ingestion.ingest([world.put("products/loose.jpg", jpeg())])
    assert outcome.status == "rejected" and "products/{code}/{file}" in outcome.reason


def test_bad_product_json_is_rejected_with_the_field(world: World) -> None:
    [outcome] = world.ingestion.ingest([world.put("products/SH-1/product.json", b'{"price": -3}')])
    assert outcome.status == "rejected" and "price" in outcome.reason
    assert world.catalog.count_products() == 0


def test_fixed_product_json_clears_its_rejection(world: World) -> None:
    world.ingestion.ingest([world.put("products/SH-1/product.json", b"{broken")])
    assert world.record("products/SH-1/product.json").status == "rejected"
    [outcome] = world.ingestion.ingest([world.put("products/SH-1/product.json", b'{"name": "Shirt"}')])
    assert outcome.status == "product" and world.record("products/SH-1/product.json") is None
    assert world.catalog.get_products(["SH-1"])["SH-1"].name == "Shirt"


def test_refusing_an_indexed_object_while_the_index_is_down_is_retried_not_recorded(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.ingestion.ingest([world.put("products/SH-1/front.jpg", jpeg())])

    def down(ids: list[str]) -> None:
        raise Unavailable("index timed out")

    monkeypatch.setattr(world.index, "delete", down)
    [outcome] = world.ingestion.ingest([world.put("products/SH-1/front.jpg", b"now a text file")])
    assert outcome.retry and outcome.reason == "index timed out"
    assert world.record("products/SH-1/front.jpg").status == "indexed"  # unchanged until the retry succeeds


def test_model_down_means_retry_and_no_record(world: World) -> None:
    world.embed.down = True
    event = world.put("products/SH-1/front.jpg", jpeg())
    [outcome] = world.ingestion.ingest([event])
    assert outcome.retry and "timed out" in outcome.reason
    assert world.record("products/SH-1/front.jpg") is None
    world.embed.down = False
    assert world.ingestion.ingest([event])[0].status == "indexed"


def test_one_refused_image_fails_alone_in_a_batch(world: World) -> None:
    bad = jpeg((1, 2, 3))
    world.embed = embedder(refuse=bad)
    world.ingestion = world._ingestion()
    outcomes = world.ingestion.ingest(
        [
            world.put("products/SH-1/a.jpg", jpeg(pattern=4)),
            world.put("products/SH-1/b.jpg", bad),
            world.put("products/SH-1/c.jpg", jpeg(pattern=12)),
        ]
    )
    assert [o.status for o in outcomes] == ["indexed", "rejected", "indexed"]
    assert "refused" in outcomes[1].reason


def test_detected_item_crops_the_embedding_and_none_means_whole_image(world: World) -> None:
    world.detect.answer = lambda r: {"results": [{"detections": []} for _ in r["images"]]}
    world.ingestion.ingest([world.put("products/SH-1/front.jpg", jpeg())])
    assert world.embed.requests[-1]["boxes"] == [None]
    assert world.record("products/SH-1/front.jpg").box is None


def test_filter_rules_keep_soles_out_of_the_index(world: World) -> None:
    world.tagger.tags = ImageTags(False, 0, False, False, "sole", "whole")
    [outcome] = world.ingestion.ingest([world.put("products/SO-1/sole.jpg", jpeg())])
    assert outcome.status == "filtered" and outcome.reason.startswith("sole")
    assert world.record("products/SO-1/sole.jpg").tags["angle"] == "sole"
    assert world.index.count() == 0


def test_invalid_tagger_answer_keeps_the_image_with_the_reason(world: World) -> None:
    world.tagger.tags = ImageTags(valid=False, reason="tagger answer is not valid JSON")
    [outcome] = world.ingestion.ingest([world.put("products/SH-1/front.jpg", jpeg())])
    assert outcome.status == "indexed"
    assert world.record("products/SH-1/front.jpg").tags["reason"] == "tagger answer is not valid JSON"


def test_batch_calls_the_models_once_per_stage(world: World) -> None:
    events = [world.put(f"products/SH-{i}/front.jpg", jpeg(pattern=4 + 2 * i)) for i in range(5)]
    outcomes = world.ingestion.ingest(events)
    assert {o.status for o in outcomes} == {"indexed"}
    assert len(world.detect.requests) == 1 and len(world.detect.requests[0]["images"]) == 5
    assert len(world.embed.requests) == 1


def test_report_lists_every_object_with_its_status(world: World) -> None:
    world.ingestion.ingest(
        [world.put("products/SH-1/front.jpg", jpeg()), world.put("products/SH-1/x.txt", b"?")]
    )
    counts = world.catalog.count_images()
    assert counts.get("indexed") == 1 and counts.get("rejected") == 1
    listed = {r.key: r.status for r in world.catalog.list_images()}
    assert listed == {"products/SH-1/front.jpg": "indexed", "products/SH-1/x.txt": "rejected"}


def test_tagging_is_one_call_per_batch(world: World) -> None:
    world.ingestion.ingest([world.put(f"products/SH-{i}/front.jpg", jpeg(pattern=5 + i)) for i in range(4)])
    assert world.tagger.calls == [4]


def test_tagger_down_means_retry(world: World) -> None:
    world.tagger.down = True
    [outcome] = world.ingestion.ingest([world.put("products/SH-1/front.jpg", jpeg())])
    assert outcome.retry and "tagger timed out" in outcome.reason
    assert world.record("products/SH-1/front.jpg") is None


def test_image_the_tagger_refuses_is_kept_untagged_and_the_rest_tagged(world: World) -> None:
    world.tagger.refuse = odd = jpeg((7, 7, 7), pattern=7)
    outcomes = world.ingestion.ingest(
        [world.put("products/SH-1/a.jpg", jpeg(pattern=9)), world.put("products/SH-1/b.jpg", odd)]
    )
    assert [o.status for o in outcomes] == ["indexed", "indexed"]
    assert world.record("products/SH-1/a.jpg").tags["valid"] is True
    assert "tagger refused" in world.record("products/SH-1/b.jpg").tags["reason"]
