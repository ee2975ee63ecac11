"""A catalog ingested under faults at set rates, through the real local adapters, and the audit of what it left.

The world: ``n`` objects laid out as the bucket is (``products/{code}/product.json``, three photos per
product, now and then a corrupt photo or a file that is not an image), staged once into a folder bucket, with
the S3 event of each (sequencer and ETag, as S3 sends them). Ingestion is the real pipeline over the real
local adapters (folder bucket, SQLite catalog, FAISS index on disk) and the real SageMaker endpoint adapter,
whose runtime client answers with the contract-speaking fakes of :mod:`tests.fakes`. Faults, each at
``rate`` of the calls it can hit: the bucket throttles, the database connection drops mid-statement, the
index write fails, and the model endpoints time out, throttle or answer 500.

Delivery is SQS's: at least once, in batches of 10, a failed (``retry``) event delivered again later, and
here every event delivered three times. The audit reads what is on disk after the run, without reconciling
(that would hide what it is looking for): every object indexed (a photo) or rejected with a reason (a bad
file) or saved (a product), none written again once final, and the catalog's indexed ids equal to the
index's ids.

Run as a module, it is the process that gets killed: ``python -m tests.reliability.soak crash ROOT N SEED K``
ingests the staged world and dies (``os._exit``) on the K-th ledger write of an indexed photo, mid-batch.
"""

from __future__ import annotations

import io
import json
import os
import random
import sys
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from tests.fakes import detector, embedder
from tests.reliability.faults import Faulty, FlakySageMakerRuntime, die, dropping_connections
from vitrine.adapters.aws.sagemaker_endpoint import SageMakerEndpoint
from vitrine.adapters.local.faiss_index import FaissIndex
from vitrine.adapters.local.folder_store import FolderStore
from vitrine.adapters.sql.catalog import SqlCatalog
from vitrine.catalog.domain import ImageStatus
from vitrine.catalog.filtering import load_rules
from vitrine.catalog.ingest import CatalogIngestion, image_id_for
from vitrine.catalog.reconcile import reconcile
from vitrine.errors import Unavailable
from vitrine.kernel.events import ObjectEvent
from vitrine.kernel.outcomes import Outcome
from vitrine.models.detector import Detector
from vitrine.models.embedder import Embedder

BUCKET = "bucket"
FAULT_RATE = 0.05
SQS_BATCH = 10
COPIES = 3
DEFAULT_OBJECTS = 200
"""``make test``: a small world. ``make reliability`` sets RELIABILITY_OBJECTS=2000 (10000 with --slow)."""

FINAL_REJECTED = {ImageStatus.REJECTED}


def objects_wanted(slow: bool = False) -> int:
    if slow:
        return 10_000
    return int(os.environ.get("RELIABILITY_OBJECTS", DEFAULT_OBJECTS))


# -- the world ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """One object and what it must end as: ``indexed`` (a photo), ``rejected`` (a bad file), ``product``."""

    key: str
    data: bytes
    content_type: str
    expect: str

    @property
    def image_id(self) -> str:
        return image_id_for(BUCKET, self.key)


def _photo(rng: random.Random, fmt: str) -> bytes:
    """A small photo of random pixels: every one different, so none is a near-duplicate of another."""
    image = Image.frombytes("RGB", (24, 24), rng.randbytes(24 * 24 * 3))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def plan(n: int, seed: int = 0) -> list[Planned]:
    rng = random.Random(seed)
    planned: list[Planned] = []
    product = 0
    while len(planned) < n:
        code = f"RL-{product:05d}"
        folder = f"products/{code}"
        document = {"name": f"Product {product}", "category": ("tops", "shoes", "bags")[product % 3]}
        planned.append(
            Planned(f"{folder}/product.json", json.dumps(document).encode(), "application/json", "product")
        )
        planned.append(Planned(f"{folder}/front.jpg", _photo(rng, "JPEG"), "image/jpeg", "indexed"))
        planned.append(Planned(f"{folder}/back.jpg", _photo(rng, "JPEG"), "image/jpeg", "indexed"))
        planned.append(Planned(f"{folder}/side.png", _photo(rng, "PNG"), "image/png", "indexed"))
        if product % 10 == 3:  # a JPEG whose header is garbage
            planned.append(
                Planned(
                    f"{folder}/broken.jpg", b"\xff\xd8\xff" + rng.randbytes(200), "image/jpeg", "rejected"
                )
            )
        if product % 10 == 7:
            planned.append(Planned(f"{folder}/notes.txt", b"call the supplier", "text/plain", "rejected"))
        product += 1
    return planned[:n]


def _sequencer(position: int) -> str:
    return f"{0x5F00000000 + position:016X}"


@dataclass
class Effects:
    """Successful writes per image id in the current batch (ledger rows and index vectors)."""

    ids: list[str] = field(default_factory=list)


class Recording:
    """Proxies ``target``; after each successful call of ``methods``, records the image ids it wrote."""

    def __init__(self, target: Any, methods: dict[str, Callable[..., list[str]]], effects: Effects) -> None:
        self._target = target
        self._methods = methods
        self._effects = effects

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._target, name)
        ids_of = self._methods.get(name)
        if ids_of is None:
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            result = real(*args, **kwargs)
            self._effects.ids.extend(ids_of(*args, **kwargs))
            return result

        return call


@dataclass
class Run:
    """An ingestion as a fresh process builds it, with its fault counters."""

    ingestion: CatalogIngestion
    effects: Effects
    counters: dict[str, Any]


@dataclass
class Delivered:
    deliveries: int = 0
    unfinished: list[str] = field(default_factory=list)
    written_again: set[str] = field(default_factory=set)
    outcomes: dict[str, Outcome] = field(default_factory=dict)


class World:
    def __init__(self, root: Path, n: int, seed: int = 0, rate: float = FAULT_RATE) -> None:
        self.root = root
        self.n = n
        self.seed = seed
        self.rate = rate
        self.planned = plan(n, seed)
        self.catalog_url = f"sqlite:///{root / 'catalog.db'}"

    def stage(self) -> list[ObjectEvent]:
        """Put every object into the bucket; write their S3 events (what SQS will keep delivering)."""
        store = FolderStore(self.root / "bucket", name=BUCKET)
        events = []
        for position, obj in enumerate(self.planned):
            info = store.put(obj.key, obj.data, obj.content_type)
            events.append(
                ObjectEvent(
                    BUCKET, obj.key, "created", _sequencer(position), info.etag.strip('"'), len(obj.data)
                )
            )
        (self.root / "events.json").write_text(json.dumps([e.__dict__ for e in events]))
        return events

    def events(self) -> list[ObjectEvent]:
        return [ObjectEvent(**e) for e in json.loads((self.root / "events.json").read_text())]

    def open(self, *, faults: bool = True, die_on_indexed_save: int = 0) -> Run:
        """Reopen the catalog and the index, reconcile them (as a start does), then put the faults in."""
        catalog: Any = SqlCatalog(self.catalog_url)
        index: Any = FaissIndex(self.root / "index")
        reconcile(catalog, index)
        store: Any = FolderStore(self.root / "bucket", name=BUCKET)
        rate = self.rate if faults else 0.0
        counters: dict[str, Any] = {"db": dropping_connections(catalog._engine, rate, self.seed)}
        store = Faulty(
            store,
            "get",
            lambda: Unavailable("bucket: SlowDown: reduce your request rate"),
            rate=rate,
            seed=self.seed,
        )
        index = Faulty(
            index,
            "upsert",
            lambda: Unavailable("index write failed: shard not available"),
            rate=rate,
            seed=self.seed,
        )
        counters |= {"store": store, "index": index}
        if die_on_indexed_save:
            catalog = Faulty(
                catalog,
                "save_image",
                die,
                on={die_on_indexed_save},
                when=lambda image: image.status == "indexed",
            )
        effects = Effects()
        catalog = Recording(catalog, {"save_image": lambda image: [image.image_id]}, effects)
        index = Recording(
            index, {"upsert": lambda items: [i.id for i in items], "delete": lambda ids: list(ids)}, effects
        )
        box = [{"box": [0.1, 0.1, 0.9, 0.9], "score": 0.9, "label": "clothes"}]
        runtime = FlakySageMakerRuntime(
            {"vitrine-detector": detector(box).invoke, "vitrine-embedder": embedder().invoke},
            {"timeout": rate / 3, "throttling": rate / 3, "model_500": rate / 3},
            seed=self.seed,
        )
        counters["models"] = runtime.raised
        ingestion = CatalogIngestion(
            store,
            catalog,
            index,
            Detector(
                SageMakerEndpoint(runtime, "vitrine-detector", "grounding_dino"), "clothes . shoes", 0.3, 0.25
            ),
            Embedder(SageMakerEndpoint(runtime, "vitrine-embedder", "dino_embed")),
            None,
            load_rules(),
            max_image_bytes=2_000_000,
            max_image_pixels=4_000_000,
            duplicate_threshold=0.985,
            batch_size=SQS_BATCH,
        )
        return Run(ingestion, effects, counters)

    def deliver(self, run: Run, events: Sequence[ObjectEvent], copies: int = COPIES) -> Delivered:
        """SQS at least once: every event ``copies`` times, in batches; a ``retry`` goes to the back of the
        queue. Records any write to an object that was already final before its batch."""
        queue = deque(list(events) * copies)
        done = Delivered()
        final_ids: set[str] = set()
        budget = len(queue) * 20
        while queue and done.deliveries < budget:
            batch = [queue.popleft() for _ in range(min(SQS_BATCH, len(queue)))]
            run.effects.ids.clear()
            outcomes = run.ingestion.ingest(batch)
            run.ingestion.index.save()  # the local profile persists after every batch
            done.deliveries += len(batch)
            done.written_again |= final_ids & set(run.effects.ids)
            for event, outcome in zip(batch, outcomes, strict=True):
                if outcome.retry:
                    queue.append(event)
                else:
                    done.outcomes.setdefault(event.key, outcome)
                    final_ids.add(image_id_for(BUCKET, event.key))
        done.unfinished = sorted({e.key for e in queue})
        return done


# -- the audit ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Audit:
    objects: int
    lost: int
    duplicated: int
    inconsistent: int
    problems: tuple[str, ...]

    def line(self) -> str:
        return f"objects={self.objects} lost={self.lost} duplicated={self.duplicated} inconsistent={self.inconsistent}"


def audit(world: World, delivered: Delivered) -> Audit:
    """What is on disk now (no reconciliation): each object's final state, and ledger ids == index ids."""
    catalog = SqlCatalog(world.catalog_url)
    index = FaissIndex(world.root / "index")
    rows = {row.image_id: row for row in catalog.list_images(limit=10 * world.n + 10)}
    codes = {obj.key.split("/")[1] for obj in world.planned}
    products = catalog.get_products(sorted(codes))
    indexed, stored = catalog.image_ids(ImageStatus.INDEXED), index.ids()
    problems = []
    for obj in world.planned:
        row = rows.get(obj.image_id)
        if obj.expect == "product":
            ok = obj.key.split("/")[1] in products
        elif obj.expect == "indexed":  # a photo whose vector is missing is lost to every search
            ok = row is not None and row.status == ImageStatus.INDEXED and obj.image_id in stored
        else:
            ok = row is not None and row.status in FINAL_REJECTED and bool(row.reason.strip())
        if not ok:
            problems.append(f"{obj.key}: expected {obj.expect}, found {row.status if row else 'nothing'}")
    mismatched = sorted(indexed ^ stored)
    problems += [f"ledger/index disagree on {image_id}" for image_id in mismatched[:20]]
    problems += [
        f"written again after it was final: {image_id}" for image_id in sorted(delivered.written_again)[:20]
    ]
    problems += [
        f"never final after {delivered.deliveries} deliveries: {key}" for key in delivered.unfinished[:20]
    ]
    duplicated = len(delivered.written_again) + (index.count() - len(stored))
    catalog.close()
    return Audit(
        world.n, len([p for p in problems if "expected" in p]), duplicated, len(mismatched), tuple(problems)
    )


def _crash(root: str, n: str, seed: str, kill_after: str) -> None:
    world = World(Path(root), int(n), int(seed))
    run = world.open(die_on_indexed_save=int(kill_after))
    world.deliver(run, world.events(), copies=1)
    sys.exit(3)  # not killed: the test asked for a write that never came


if __name__ == "__main__":
    if sys.argv[1:2] == ["crash"]:
        _crash(*sys.argv[2:6])
