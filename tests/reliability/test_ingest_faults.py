"""Catalog ingestion under faults, on the real local adapters (folder bucket, SQLite, FAISS on disk, the
tiny in-process models) wrapped by fault injectors: every run returns one outcome per object and raises
nothing; after a restart and a fault-free rerun every object is indexed exactly once and the ledger's
indexed ids are the index's ids."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO, jpeg
from tests.reliability.faults import Faulty
from vitrine.adapters.local.faiss_index import FaissIndex
from vitrine.adapters.local.folder_store import FolderStore
from vitrine.adapters.sql.catalog import SqlCatalog
from vitrine.catalog.domain import ImageStatus
from vitrine.catalog.filtering import load_rules
from vitrine.catalog.ingest import CatalogIngestion
from vitrine.catalog.reconcile import reconcile
from vitrine.errors import Unavailable
from vitrine.kernel.events import ObjectEvent
from vitrine.models.detector import Detector
from vitrine.models.embedder import Embedder

pytestmark = pytest.mark.xdist_group("reliability")
BUCKET = "bucket"
PRODUCTS = 6


@dataclass
class Home:
    """A local profile's state on disk: what survives a restart."""

    root: Path

    def open(
        self, endpoints, *, catalog=None, index=None, detector_endpoint=None, batch_size=4
    ) -> CatalogIngestion:
        """The ingestion as a fresh process builds it: reopen the catalog and the index, reconcile them."""
        real_catalog = SqlCatalog(f"sqlite:///{self.root / 'catalog.db'}")
        real_index = FaissIndex(self.root / "index")
        reconcile(real_catalog, real_index)
        return CatalogIngestion(
            FolderStore(self.root / "bucket", name=BUCKET),
            catalog(real_catalog) if catalog else real_catalog,
            index(real_index) if index else real_index,
            Detector(
                detector_endpoint or endpoints["grounding_dino"], "clothes . pants . hats . shoes", 0.3, 0.25
            ),
            Embedder(endpoints["dino_embed"]),
            None,
            load_rules(),
            max_image_bytes=2_000_000,
            max_image_pixels=4_000_000,
            duplicate_threshold=0.985,
            batch_size=batch_size,
        )


def _events(root: Path) -> list[ObjectEvent]:
    """One image per product, as the backfill lists them (ETag, no sequencer): a rerun sends the same."""
    store = FolderStore(root / "bucket", name=BUCKET)
    events = []
    for n in range(PRODUCTS):
        key = f"products/RL-{n}/front.jpg"
        try:
            info = store.head(key)
        except Exception:
            info = store.put(key, jpeg((30 * n, 250 - 35 * n, 60 + 25 * n), pattern=4 + n), "image/jpeg")
        events.append(ObjectEvent(BUCKET, key, "created", version=info.etag.strip('"')))
    return events


def _assert_consistent_after_rerun(home: Home, endpoints) -> None:
    ingestion = home.open(endpoints)
    outcomes = ingestion.ingest(_events(home.root))
    assert not [o for o in outcomes if o.retry]
    ingestion.index.save()
    restarted = home.open(endpoints)  # a second restart: what was saved is what counts
    indexed = restarted.catalog.image_ids(ImageStatus.INDEXED)
    assert len(indexed) == PRODUCTS
    assert indexed == restarted.index.ids()
    assert restarted.index.count() == PRODUCTS  # each object exactly once


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path)


@pytest.mark.parametrize(
    "error", [lambda: Unavailable("catalog connection dropped"), lambda: RuntimeError("bug")]
)
def test_catalog_failing_on_the_second_of_three_saves_retries_that_object_only(home, stack, error) -> None:
    events = _events(home.root)[:3]
    ingestion = home.open(stack.endpoints, catalog=lambda real: Faulty(real, "save_image", error, on={2}))
    outcomes = ingestion.ingest(events)
    assert [o.status for o in outcomes] == ["indexed", "retry", "indexed"]
    assert outcomes[1].reason
    assert ingestion.index.ids() == ingestion.catalog.image_ids(ImageStatus.INDEXED)  # compensated
    ingestion.index.save()
    _assert_consistent_after_rerun(home, stack.endpoints)


def test_index_failing_once_retries_one_object(home, stack) -> None:
    ingestion = home.open(
        stack.endpoints, index=lambda real: Faulty(real, "upsert", lambda: Unavailable("index down"), on={1})
    )
    outcomes = ingestion.ingest(_events(home.root))
    assert [o.status for o in outcomes].count("retry") == 1
    assert [o.status for o in outcomes].count("indexed") == PRODUCTS - 1
    ingestion.index.save()
    _assert_consistent_after_rerun(home, stack.endpoints)


def test_model_timing_out_on_every_fifth_call_retries_those_batches(home, stack) -> None:
    faulty = Faulty(
        stack.endpoints["grounding_dino"], "invoke", lambda: TimeoutError("read timed out"), every=5
    )
    ingestion = home.open(stack.endpoints, detector_endpoint=faulty, batch_size=1)
    for _ in range(3):  # redeliveries, as SQS would: some calls keep failing, nothing raises
        outcomes = ingestion.ingest(_events(home.root))
        assert len(outcomes) == PRODUCTS
        assert {o.status for o in outcomes} <= {"indexed", "retry", "skipped"}
    assert faulty.raised >= 1
    ingestion.index.save()
    _assert_consistent_after_rerun(home, stack.endpoints)


KILLED_RUN = """
import sys
from tests.reliability.faults import Faulty, die
from pathlib import Path
from tests.reliability.test_ingest_faults import Home, _events
from vitrine.adapters.local.inprocess_endpoint import InProcessEndpoint

home, models = Home(Path(sys.argv[1])), Path(sys.argv[2])
endpoints = {m: InProcessEndpoint(m, Path("model_code"), str(models / m)) for m in ("grounding_dino", "dino_embed")}
indexed_saves = lambda image: image.status == "indexed"
ingestion = home.open(
    endpoints,
    # the third ledger write of an indexed image kills the process: its vector is in memory only
    catalog=lambda real: Faulty(real, "save_image", die, on={3}, when=indexed_saves),
)
ingestion.ingest(_events(home.root))
"""


def test_process_killed_between_index_write_and_ledger_write_recovers_on_restart(
    home, stack, local_home
) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(home.root), str(local_home / "models")],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert run.returncode == 17, run.stderr[-2000:]
    before = SqlCatalog(f"sqlite:///{home.root / 'catalog.db'}")
    assert len(before.image_ids(ImageStatus.INDEXED)) == 2  # rows written; their vectors never reached disk
    _assert_consistent_after_rerun(home, stack.endpoints)
    assert json.loads((home.root / "index" / "ids.json").read_text())
