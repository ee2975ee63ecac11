"""Objects per second through the local ingestion path at model batch sizes 1, 8 and 32, same models, same objects.

The local ingestion path is ``vitrine ingest``'s: files are staged into the local bucket, S3 event records
are built and dispatched SQS batch by SQS batch to the Lambda handler, which runs the catalog pipeline
(tag → filter → detect → crop + embed → index → ledger) with ``VITRINE_INGEST_BATCH_SIZE`` images per model
call. The handler path sends 16 messages per SQS batch; a model batch above that needs bigger SQS batches,
so the bench raises the SQS batch to the model batch where it is larger (Lambda's SQS batch size is set
the same way, in the ingestion stack).

Each batch size gets a fresh home (so nothing is skipped as already ingested), the same seeded tiny
models, the same demo catalog, and its models loaded before the clock starts. With ``--embedder vit-s16``
(the default) the embedder is a random ViT-S/16 of the real DINO shape (384-d, 12 layers, 224 px), so the
model time is of a realistic size; ``--embedder tiny`` keeps the tiny one. Writes
``bench/results/ingest_throughput.json`` and ``.png``. Last line:
``batch=1,8,32 objects_per_s=<a>,<b>,<c> speedup_32_vs_1=<x>``.

Usage: ``python bench/ingest_throughput.py [--products 24] [--batches 1 8 32] [--embedder vit-s16|tiny]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from _common import RESULTS, ModelClock, local_env, pyplot, save, write_result


def run_once(home: Path, demo: Path, batch: int, embedder_dir: Path | None) -> dict[str, float]:
    from transformers.utils import logging as hf_logging

    from vitrine import wiring
    from vitrine.config import settings
    from vitrine_dev import ingest
    from vitrine_dev.console import quiet_libraries
    from vitrine_dev.modelkit.tiny import ensure_tiny

    extra = {"VITRINE_INGEST_BATCH_SIZE": str(batch)}
    if embedder_dir is not None:
        extra["VITRINE_DINO_EMBED_DIR"] = str(embedder_dir)
    os.environ.clear()
    os.environ.update(local_env(home, **extra))
    quiet_libraries()
    hf_logging.disable_progress_bar()
    wiring.reset()
    ensure_tiny(settings())  # seeded: every home gets the same tiny models
    app = wiring.services()
    app.warm()
    clock = ModelClock()
    clock.wrap(app.endpoints)
    ingest.SQS_BATCH = max(16, batch)
    started = time.perf_counter()
    summary = ingest.ingest_folder(demo, app.store)
    seconds = time.perf_counter() - started
    counts = app.catalog.count_images()
    figures = {
        "batch": batch,
        "sqs_batch": ingest.SQS_BATCH,
        "objects": summary.dispatched,
        "images_indexed": counts.get("indexed", 0),
        "retry": len(summary.failed_messages),
        "seconds": seconds,
        "objects_per_s": summary.dispatched / seconds,
        "model_calls": clock.calls,
        "share_models": clock.seconds / seconds,
    }
    print(
        f"batch {batch:>2} (SQS batch {ingest.SQS_BATCH}): {summary.dispatched} objects in {seconds:6.1f} s = "
        f"{figures['objects_per_s']:6.2f} objects/s; {clock.calls} model calls, "
        f"{figures['share_models']:.0%} of the time in models; indexed {figures['images_indexed']}, "
        f"to retry {figures['retry']}",
        flush=True,
    )
    return figures


def plot(levels: list[dict[str, float]], path: Path, title: str) -> None:
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(6, 4))
    labels = [str(level["batch"]) for level in levels]
    axis.bar(labels, [level["objects_per_s"] for level in levels], color="tab:blue")
    for x, level in enumerate(levels):
        axis.text(
            x, level["objects_per_s"], f"{level['share_models']:.0%} in models", ha="center", va="bottom"
        )
    axis.set_xlabel("images per model call")
    axis.set_ylabel("objects per second")
    axis.set_title(title)
    save(figure, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--products", type=int, default=24, help="demo catalog products (about 4 objects each)"
    )
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--embedder", choices=["vit-s16", "tiny"], default="vit-s16")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    saved = dict(os.environ)
    scratch = Path(tempfile.mkdtemp(prefix="vitrine-ingest-bench-"))
    from inference_batching import vit_s16_random

    from vitrine_dev.demo import generate

    demo = scratch / "demo"
    generated = generate(demo, products=args.products, street_photos=0, seed=11)
    embedder_dir = None
    if args.embedder == "vit-s16":
        embedder_dir = scratch / "vit-s16"
        vit_s16_random(embedder_dir)
    print(
        f"{generated.products} products, {generated.images} images; embedder {args.embedder}, other models tiny; "
        f"{os.cpu_count()} cores, torch threads {saved.get('OMP_NUM_THREADS', '1')}",
        flush=True,
    )
    import importlib

    from vitrine_dev.console import route_logs

    importlib.import_module("handlers.ingest")  # the products/ handler: its logger goes to the file too
    print(f"per-object logs: {route_logs(scratch)}", flush=True)
    try:
        levels = [run_once(scratch / f"home-{b}", demo, b, embedder_dir) for b in args.batches]
    finally:
        os.environ.clear()
        os.environ.update(saved)
    first = levels[0]["objects_per_s"]
    for level in levels:
        level["speedup_vs_first"] = level["objects_per_s"] / first
    report = {
        "command": f"python bench/ingest_throughput.py --products {args.products} --batches "
        + " ".join(map(str, args.batches))
        + f" --embedder {args.embedder}",
        "path": "vitrine ingest: stage -> S3 event records -> SQS batches -> handlers.ingest -> CatalogIngestion",
        "models": f"embedder {args.embedder}; detector, tagger, attribute reader: tiny random",
        "products": generated.products,
        "images": generated.images,
        "levels": levels,
    }
    path = write_result("ingest_throughput", report, args.out)
    plot(
        levels,
        path.with_suffix(".png"),
        f"Local ingestion, {generated.images} images ({args.embedder} embedder)",
    )
    print(f"wrote {path} and {path.with_suffix('.png')}")
    rates = ",".join(f"{level['objects_per_s']:.2f}" for level in levels)
    print(
        f"batch={','.join(str(level['batch']) for level in levels)} objects_per_s={rates} "
        f"speedup_{levels[-1]['batch']}_vs_{levels[0]['batch']}={levels[-1]['speedup_vs_first']:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
