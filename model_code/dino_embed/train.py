"""Contrastive fine-tuning of the DINO embedder on (street photo, catalog image) pairs of one product.

Symmetric InfoNCE over the batch: each street crop must be nearer its own product's catalog image than every
other catalog image in the batch, which is exactly what k-NN search asks of the embedding. A batch holds
one pair per product, so no "negative" is secretly a positive.

Data: ``pairs.jsonl`` in the training channel, one ``{"product": code, "street": path, "catalog": path,
"street_box": [x0, y0, x1, y1] (optional)}`` per line, paths relative to the channel. Output: weights and
image processor saved with ``save_pretrained`` into the model dir, loadable by ``inference.model_fn``.

Run as a SageMaker training job (``source_dir=model_code``, ``entry_point=dino_embed/train.py``) or locally.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # model_code/, for `common` and the handler

from dino_embed.inference import model_fn

from common.imaging import crop, decode
from common.runtime import to_model
from common.training import base_parser, read_manifest, run_epochs, save_finetuned

TEMPERATURE = 0.07


def _batches(pairs: list[dict[str, Any]], size: int, rng: random.Random) -> list[list[dict[str, Any]]]:
    """Shuffled batches with at most one pair per product (in-batch negatives must be other products)."""
    order = pairs[:]
    rng.shuffle(order)
    batches: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    for pair in order:
        if pair["product"] in {p["product"] for p in current} or len(current) == size:
            if len(current) > 1:
                batches.append(current)
            current = []
        current.append(pair)
    if len(current) > 1:
        batches.append(current)
    return batches


def _image(folder: Path, path: str, box: Sequence[float] | None) -> Any:
    image = decode((folder / path).read_bytes())
    return crop(image, box) if box else image


def info_nce(street: Any, catalog: Any, temperature: float = TEMPERATURE) -> Any:
    """Symmetric InfoNCE between row-aligned L2-normalised embeddings."""
    import torch

    logits = street @ catalog.T / temperature
    targets = torch.arange(len(street), device=street.device)
    return (
        torch.nn.functional.cross_entropy(logits, targets)
        + torch.nn.functional.cross_entropy(logits.T, targets)
    ) / 2


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train and save; returns the summary it also writes beside the weights."""
    parser = base_parser(__doc__.splitlines()[0], default_base_model="facebook/dino-vits16")
    parser.add_argument("--name", default="dino-embed-finetuned", help="the model name embeddings report")
    args = parser.parse_args(argv)

    import torch

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    embedder = model_fn(str(args.base_model))  # on runtime.device(): a GPU job trains on the GPU
    model, processor = embedder.model.train(), embedder.image_processor
    pairs = read_manifest(args.train, "pairs.jsonl")
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr)

    def embed(images: list[Any]) -> Any:
        pixels = to_model(processor(images=images, return_tensors="pt"), model)["pixel_values"]
        return torch.nn.functional.normalize(model(pixel_values=pixels).last_hidden_state[:, 0], dim=-1)

    def loss_of(batch: list[dict[str, Any]]) -> Any:
        street = embed([_image(args.train, p["street"], p.get("street_box")) for p in batch])
        catalog = embed([_image(args.train, p["catalog"], None) for p in batch])
        return info_nce(street, catalog)

    losses = run_epochs(
        model,
        optimizer,
        lambda: _batches(pairs, args.batch_size, rng),
        loss_of,
        epochs=args.epochs,
        max_steps=args.max_steps,
        max_grad_norm=1.0,
    )
    if not losses:
        raise ValueError("no batch of two different products in the training data")

    model.config.vitrine_model_name = args.name
    return save_finetuned(args.model_dir, model, processor, losses, pairs=len(pairs))


if __name__ == "__main__":
    main()
