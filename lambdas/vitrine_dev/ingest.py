"""``vitrine ingest PATH``: what an operator dropping files in the bucket causes, on this machine.

Files under PATH, laid out as the bucket is (``products/{code}/...``), are put into the local bucket;
S3 event records are built for the objects that changed (unchanged files get an event without a sequencer,
which the pipeline recognises by ETag as already ingested) and dispatched, SQS-batch by SQS-batch, to the
Lambda handler registered for their prefix.
"""

from __future__ import annotations

import hashlib
import importlib
import mimetypes
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from vitrine.errors import BadInput, NotFound
from vitrine.kernel.events import s3_record, sqs_batch
from vitrine.kernel.ports import ObjectStore
from vitrine_dev.lambda_context import LocalContext

HANDLERS = {"products/": "handlers.ingest", "hotels/": "handlers.hotels_classify"}
"""Bucket prefix → the module whose ``handler`` ingests it (as the S3 → SQS → Lambda wiring does)."""
SCHEDULED_AFTER = {"handlers.hotels_classify": "handlers.hotels_cover"}
"""Ingestion handler → the job its objects make due, which the cloud runs on a schedule (debounced cover
scoring): locally it runs once right after the handler's events, with no quiet period."""
SQS_BATCH = 16


@dataclass
class IngestSummary:
    uploaded: int = 0
    unchanged: int = 0
    dispatched: int = 0
    failed_messages: list[str] = field(default_factory=list)
    no_handler: list[str] = field(default_factory=list)


def _upload_order(path: Path) -> tuple[str, bool, str]:
    """Folder by folder, metadata first — the order an operator's sync tool would use, so products are
    known before their images (the pipeline copes with any order, at the cost of a re-index)."""
    return (str(path.parent), path.name != "product.json", path.name)


def _files(root: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(root.rglob("*"), key=_upload_order):
        relative = path.relative_to(root)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            yield relative.as_posix(), path


def _handler_for(key: str) -> str | None:
    return next((module for prefix, module in HANDLERS.items() if key.startswith(prefix)), None)


def stage(root: Path, store: ObjectStore, summary: IngestSummary) -> dict[str, list[dict[str, Any]]]:
    """Put the files into the store; the S3 notification of each object, grouped by handler module."""
    if not root.is_dir():
        raise BadInput(f"{root} is not a folder")
    notifications: dict[str, list[dict[str, Any]]] = {}
    for key, path in _files(root):
        module = _handler_for(key)
        if module is None:
            summary.no_handler.append(key)
            continue
        data = path.read_bytes()
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
        try:
            unchanged = store.head(key).etag.strip('"') == etag
        except NotFound:
            unchanged = False
        sequencer = ""
        if unchanged:
            summary.unchanged += 1
        else:
            store.put(key, data, mimetypes.guess_type(key)[0] or "application/octet-stream")
            sequencer = f"{time.time_ns():020X}"
            summary.uploaded += 1
        record = s3_record(store.name, key, "created", size=len(data), etag=etag, sequencer=sequencer)
        notifications.setdefault(module, []).append({"Records": [record]})
    return notifications


def ingest_folder(
    root: Path, store: ObjectStore, progress: Callable[[int], None] | None = None
) -> IngestSummary:
    """Stage ``root`` into ``store`` and run the registered handlers over the events, in SQS-sized batches."""
    summary = IngestSummary()
    for module, notifications in stage(root, store, summary).items():
        handler = importlib.import_module(module).handler
        for start in range(0, len(notifications), SQS_BATCH):
            chunk = notifications[start : start + SQS_BATCH]
            event = sqs_batch(chunk)
            keys = {
                m["messageId"]: unquote_plus(n["Records"][0]["s3"]["object"]["key"])
                for m, n in zip(event["Records"], chunk, strict=True)
            }
            response = handler(event, LocalContext())
            summary.failed_messages += [
                keys[f["itemIdentifier"]] for f in response.get("batchItemFailures", [])
            ]
            summary.dispatched += len(chunk)
            if progress:
                progress(len(chunk))
        if module in SCHEDULED_AFTER:
            importlib.import_module(SCHEDULED_AFTER[module]).handler({"quiet_s": 0}, LocalContext())
    return summary


def count_dispatchable(root: Path) -> int:
    """How many files under ``root`` have an ingestion handler (for a progress bar's total)."""
    return sum(1 for key, _ in _files(root) if _handler_for(key))
