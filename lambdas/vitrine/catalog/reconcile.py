"""Make the ledger and the index hold the same image ids again after a crash.

Ingestion writes the index, then the ledger, and compensates when the second write fails; what it cannot
compensate is a process that dies in between, or (local profile) an index kept in memory that never reached
disk while the ledger, a database, did. This step runs before ingesting: a vector without an ``indexed``
row is removed, an ``indexed`` row without a vector is forgotten so the object's next event (or a rerun of
``vitrine ingest``) ingests it again.
"""

from __future__ import annotations

from dataclasses import dataclass

from vitrine.catalog.domain import ImageStatus
from vitrine.catalog.ports import Catalog
from vitrine.kernel.ports import VectorIndex


@dataclass(frozen=True)
class Reconciled:
    """What reconciliation changed: vectors dropped from the index, ledger rows forgotten."""

    orphan_vectors: int
    lost_vectors: int


def reconcile(catalog: Catalog, index: VectorIndex) -> Reconciled:
    indexed = catalog.image_ids(ImageStatus.INDEXED)
    stored = index.ids()
    orphans = sorted(stored - indexed)
    lost = sorted(indexed - stored)
    if orphans:
        index.delete(orphans)
    for image_id in lost:
        catalog.delete_image(image_id)
    return Reconciled(len(orphans), len(lost))
