"""Search quality of an embedder on a search set: CMC rank-1..10 of the street items against the catalog.

The gallery is every catalog photo (its item's box when ``products_truth.json`` gives one, as the detector
crops it at ingestion; else the whole photo), the queries every street item cut at its true box; a query's
rank is its product's among the products ordered by their best photo (as the search API collapses hits).
The weights load through the endpoint's own ``model_fn`` and images go through its ``predict_fn``, so the
figures are the served model's. ``--control`` also scores a freshly initialised model of the same shape
(the untrained control) and prints chance.

    python model_code/dino_embed/evaluate.py --model DIR --data DIR [--out metrics.json]
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # model_code/, for `common` and the handler

import numpy as np

from common.evaluation import chance_cmc, cmc, write_json
from common.search_data import SearchImage, read_search_set
from common.training import help_field, parse

BATCH = 32


@dataclass
class EvaluateArguments:
    """Evaluate a dino_embed model on a search set (catalog folders + street/truth.json)."""

    model: str = help_field("", help="weights folder (what model_fn loads)")
    data: Path = field(default=Path("."), metadata={"help": "the search set"})
    out: Path | None = field(default=None, metadata={"help": "write the figures as JSON here"})
    control: bool = help_field(False, help="also score an untrained model of the same shape")


def _request(images: Sequence[SearchImage]) -> str:
    return json.dumps(
        {
            "images": [base64.b64encode(i.path.read_bytes()).decode() for i in images],
            "boxes": [list(i.box) if i.box else None for i in images],
        }
    )


def embed(embedder: Any, images: Sequence[SearchImage]) -> np.ndarray:
    """Vectors through the handler's ``input_fn`` → ``predict_fn`` (crop at the box, processor, CLS)."""
    from dino_embed import inference

    vectors: list[list[float]] = []
    for start in range(0, len(images), BATCH):
        query = inference.input_fn(_request(images[start : start + BATCH]), "application/json")
        vectors.extend(inference.predict_fn(query, embedder).vectors)
    return np.asarray(vectors, dtype=np.float32)


def evaluate_embedder(embedder: Any, images: Sequence[SearchImage]) -> tuple[dict[str, Any], Any]:
    """(figures, the :class:`common.evaluation.SearchScores`) of ``embedder`` on ``images``."""
    gallery = [i for i in images if not i.street]
    queries = [i for i in images if i.street]
    if not queries:
        raise ValueError("the set has no street items (street/truth.json) to search with")
    scores = cmc(
        embed(embedder, queries),
        [q.product for q in queries],
        embed(embedder, gallery),
        [g.product for g in gallery],
    )
    products = len({g.product for g in gallery})
    figures = {
        "cmc": [round(v, 4) for v in scores.cmc],
        **scores.figures("search_"),
        "queries": len(queries),
        "gallery_images": len(gallery),
        "products": products,
        "chance_rank_1": round(chance_cmc(products)[0], 4),
        "chance_rank_5": round(chance_cmc(products)[4], 4),
    }
    return figures, scores


def untrained_like(model_dir: str) -> Any:
    """An embedder with ``model_dir``'s configuration and processor but freshly initialised weights."""
    import torch
    from dino_embed.inference import Embedder
    from transformers import AutoConfig, AutoImageProcessor, Dinov2Model, ViTModel

    config = AutoConfig.from_pretrained(model_dir)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = (
            ViTModel(config, add_pooling_layer=False) if config.model_type == "vit" else Dinov2Model(config)
        )
    processor = AutoImageProcessor.from_pretrained(model_dir)
    from common.runtime import input_side

    return Embedder(
        model.eval(), processor, "untrained", config.hidden_size, input_side(processor, default=224)
    )


def as_ingested(images: Sequence[SearchImage], detector: str, prompt: str) -> list[SearchImage]:
    """``images`` with each catalog photo's box replaced by the detector's best box (None when it finds
    nothing): the crop catalog ingestion embeds."""
    import dataclasses

    from grounding_dino.inference import model_fn as detector_fn
    from grounding_dino.train import predict

    catalog = [i for i in images if not i.street]
    found = predict(detector_fn(detector), [str(i.path) for i in catalog], prompt)
    boxes = {i.path: (tuple(f[0]["box"]) if f else None) for i, f in zip(catalog, found, strict=True)}

    def usable(box: Any) -> Any:
        return box if box and box[2] > box[0] and box[3] > box[1] else None

    return [i if i.street else dataclasses.replace(i, box=usable(boxes[i.path])) for i in images]


def evaluate(
    model: str | Path,
    data: Path,
    control: bool = False,
    detector: str | Path | None = None,
    prompt: str = "clothes . pants . hats . shoes",
) -> dict[str, Any]:
    """The figures of the weights in ``model`` on the search set ``data`` (``control``: and the untrained
    model's of the same shape, under ``untrained``). With ``detector``, the catalog photos are cut as
    ingestion cuts them (that detector's best box) instead of at their true boxes."""
    from dino_embed.inference import model_fn

    images = read_search_set(data)
    if detector:
        images = as_ingested(images, str(detector), prompt)
    figures, _ = evaluate_embedder(model_fn(str(model)), images)
    if control:
        untrained, _ = evaluate_embedder(untrained_like(str(model)), images)
        figures["untrained"] = {k: v for k, v in untrained.items() if k.startswith("search_") or k == "cmc"}
    return figures


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse(EvaluateArguments, argv)
    figures = evaluate(args.model, args.data, args.control)
    print(json.dumps(figures))
    if args.out:
        write_json(args.out, figures)
    return figures


if __name__ == "__main__":
    main()
