"""Text recall of the dual encoder: words naming a product find that product among the catalog's photos.

For every product of a search set (:mod:`common.search_data`) the query is its pattern, colour and category
("striped red shirt", :func:`clip_embed.texts.query_for`); the gallery is every catalog photo (its item crop
when ``products_truth.json`` has a box), collapsed to distinct products as the search API collapses hits.
``text_recall_at_5`` is the share of products found in the top 5 (:func:`common.evaluation.cmc`). Products that
share all three attributes are indistinguishable by such a query, so a perfect model scores below 1 on a shop
where many do.

    python model_code/clip_embed/evaluate.py --model DIR --data DEMO_DIR [--control] [--out figures.json]

prints ``text_rank_1=... text_rank_5=... text_rank_10=... text_recall_at_5=...``; from Python,
``evaluate(model_dir, data_dir)`` (the figures, as every ``model_code/<model>/evaluate.py`` answers) or
``text_recall_at_5(model_dir, data_dir)``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # model_code/, for `common` and the handler

from common.evaluation import SearchScores, cmc
from common.search_data import SearchImage, read_catalog


def image_vectors(encoder: Any, images: Sequence[SearchImage], batch: int = 64) -> Any:
    """Unit vectors of the catalog photos (box crops), through the endpoint's own processor."""
    import numpy as np
    import torch
    from clip_embed.inference import embed_images

    from common.imaging import crop, decode

    side = encoder.side
    vectors = []
    for start in range(0, len(images), batch):
        pictures = []
        for image in images[start : start + batch]:
            photo = decode(image.path.read_bytes(), target=side * 3)
            pictures.append(crop(photo, image.box) if image.box else photo)
        with torch.inference_mode():
            vectors.append(embed_images(encoder, pictures).cpu().numpy())
    return np.concatenate(vectors) if vectors else np.zeros((0, encoder.dim), dtype=np.float32)


def text_vectors(encoder: Any, texts: Sequence[str], batch: int = 64) -> Any:
    import numpy as np
    import torch
    from clip_embed.inference import embed_texts

    parts = []
    for start in range(0, len(texts), batch):
        with torch.inference_mode():
            parts.append(embed_texts(encoder, texts[start : start + batch]).cpu().numpy())
    return np.concatenate(parts) if parts else np.zeros((0, encoder.dim), dtype=np.float32)


def recall_of(
    encoder: Any, folder: Path, images: Sequence[SearchImage] | None = None, products: set[str] | None = None
) -> SearchScores:
    """CMC of each product's query against the catalog photos of ``images`` (default: all of ``folder``),
    for the products in ``products`` (default: every product with photos and attributes)."""
    from clip_embed.texts import query_for, read_products

    catalog = [i for i in (images if images is not None else read_catalog(folder)) if not i.street]
    texts = read_products(folder)
    codes = sorted(
        {i.product for i in catalog if i.product in texts and (products is None or i.product in products)}
    )
    queries = [query_for(texts[code]) for code in codes]
    kept = [(code, query) for code, query in zip(codes, queries, strict=True) if query]
    if not kept or not catalog:
        return SearchScores(cmc=[0.0] * 10, ranks=[])
    return cmc(
        text_vectors(encoder, [query for _, query in kept]),
        [code for code, _ in kept],
        image_vectors(encoder, catalog),
        [i.product for i in catalog],
    )


def text_recall(model_dir: str | Path, data_dir: str | Path) -> SearchScores:
    """:func:`recall_of` for the weights in ``model_dir`` over the search set in ``data_dir``."""
    from clip_embed.inference import model_fn

    return recall_of(model_fn(str(model_dir)), Path(data_dir))


def text_recall_at_5(model_dir: str | Path, data_dir: str | Path) -> float:
    """The share of products whose pattern + colour + category query has them in the top 5."""
    return text_recall(model_dir, data_dir).figures("text_")["text_recall_at_5"]


def untrained_like(model_dir: str) -> Any:
    """A freshly initialised model of the same shape, tokenizer and processor (the untrained control)."""
    import torch
    from clip_embed.inference import model_fn
    from transformers import AutoConfig, CLIPModel, SiglipModel

    served = model_fn(model_dir)
    config = AutoConfig.from_pretrained(model_dir)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = (CLIPModel if served.family == "clip" else SiglipModel)(config).eval()
    return replace(served, model=model, name="untrained")


def evaluate(model: str | Path, data: Path, control: bool = False) -> dict[str, Any]:
    """The figures of the weights in ``model`` on the search set ``data`` (what ``vitrine evaluate`` and
    ``make quality`` call): ``text_rank_1/5/10`` and ``text_recall_at_5``; ``control``: the untrained model's
    too, under ``untrained``."""
    figures: dict[str, Any] = text_recall(model, data).figures("text_")
    if control:
        figures["untrained"] = recall_of(untrained_like(str(model)), Path(data)).figures("text_")
    return figures


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument(
        "--model", "--model-dir", dest="model", required=True, help="weights folder or hub id"
    )
    parser.add_argument(
        "--data", required=True, type=Path, help="search set: products/ (+ products_truth.json)"
    )
    parser.add_argument(
        "--control", action="store_true", help="also score an untrained model of the same shape"
    )
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    figures = evaluate(args.model, args.data, args.control)
    control = {f"untrained_{k}": v for k, v in figures.get("untrained", {}).items()}
    shown = {k: v for k, v in figures.items() if isinstance(v, float)} | control
    print(" ".join(f"{k}={v:.4f}" for k, v in shown.items()), flush=True)
    if args.out:
        from common.evaluation import write_json

        write_json(args.out, figures)
    return figures


if __name__ == "__main__":
    main()
