"""Train the pairwise cover ranker: a SageMaker training entry point that also runs locally.

Pairwise learning to rank. Each step draws hotels and, per hotel, its cover against at most ``--negatives-per-
positive`` (5) of its other photos; each pair is put in a random order (s1, s2) and the model is trained with
BCE on ``sigmoid(s1 - s2)`` against "the first is the cover". The text encoder stays frozen; the image encoder
learns unless ``--freeze-image-encoder`` (then only the projector and the head do). Explicit pairs (an
operator's pinned cover against another photo: ``vitrine train ranker --from-pins``) join the pool as they are.

Data (``--train``): ``hotels.jsonl`` (:mod:`common.datasets`): ``{"hotel_id", "text", "images": [...], "cover":
index}`` a hotel, or ``{"hotel_id", "text", "better", "worse"}`` pairs; image paths relative to the folder.
Hotels are split into train and validation groups (``--val-fraction``, or ``--validation``): validation reports
cover precision / recall / F1 and rank@1..5 of the held-out hotels. Start weights (``--base-model``): a ranker
folder, or ``--image-encoder`` (CLIP vision) and ``--text-encoder`` (BERT-style) to start a fresh head.
Output (``--model-dir``): the folder ``inference.py`` loads, ``metrics.json`` and ``loss_curve.png``; the last
line printed is ``pair_accuracy=...`` on the training pairs.

Run as a SageMaker training job (``source_dir=model_code``, ``entry_point=ranker/train.py``) or locally.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # model_code/, for `common`
sys.path.insert(0, str(Path(__file__).resolve().parent))  # this folder, for the served module

from model import CoverRanker  # this folder: the module the endpoint serves

from common.datasets import CoverPair, Hotel, read_hotels
from common.evaluation import cover_scores
from common.training import (
    RunArguments,
    grouped_split,
    help_field,
    load_rgb,
    parse,
    seed_all,
    step_rng,
    to_training_device,
    train_loop,
    write_record,
)


@dataclass
class RankerArguments(RunArguments):
    """Train the pairwise cover ranker on hotels with their covers (and pinned pairs)."""

    image_encoder: str | None = help_field(
        None, help="CLIP vision folder or hub id (with --text-encoder, a fresh head)"
    )
    text_encoder: str | None = help_field(None, help="BGE-style BERT folder or hub id")
    freeze_image_encoder: bool = help_field(False, help="train only the projector and the head")
    negatives_per_positive: int = help_field(
        5, help="non-cover photos paired with a hotel's cover per step, at most"
    )
    steps: int = help_field(500, help="optimiser steps")
    batch_size: int = help_field(16, help="pairs per step")
    lr: float = help_field(1e-4, help="peak learning rate (AdamW)")
    val_fraction: float = help_field(0.0, help="share of hotels held out for validation (default none)")


@dataclass(frozen=True)
class Pair:
    text: str
    first: Path
    second: Path
    first_is_better: bool


def read_pairs(folder: Path) -> list[Pair]:
    """Every (cover, other) pair of ``folder/hotels.jsonl`` in the better-first order (kept for callers that
    want the whole pool); a malformed line stops training with its number."""
    hotels, pairs = read_hotels(folder)
    found = [Pair(p.text, p.better, p.worse, True) for p in pairs]
    for hotel in hotels:
        found += [Pair(hotel.text, hotel.images[hotel.cover], other, True) for other in _others(hotel)]
    if not found:
        raise ValueError(f"no training pairs in {folder / 'hotels.jsonl'}")
    return found


def _others(hotel: Hotel) -> list[Path]:
    return [image for i, image in enumerate(hotel.images) if i != hotel.cover]


def draw_pairs(
    hotels: Sequence[Hotel], explicit: Sequence[CoverPair], size: int, ratio: int, rng: Any
) -> list[Pair]:
    """``size`` pairs: hotels drawn at random, each giving its cover against up to ``ratio`` of its other photos
    (explicit pairs drawn alongside), every pair in a random order."""
    pool: list[tuple[str, Path, Path]] = []
    while len(pool) < size:
        if explicit and (not hotels or rng.random() < len(explicit) / (len(explicit) + len(hotels))):
            pair = explicit[int(rng.integers(len(explicit)))]
            pool.append((pair.text, pair.better, pair.worse))
            continue
        hotel = hotels[int(rng.integers(len(hotels)))]
        others = _others(hotel)
        for index in rng.choice(len(others), size=min(ratio, len(others)), replace=False):
            pool.append((hotel.text, hotel.images[hotel.cover], others[int(index)]))
    pairs = []
    for text, better, worse in pool[:size]:
        flip = bool(rng.random() < 0.5)
        pairs.append(Pair(text, worse, better, False) if flip else Pair(text, better, worse, True))
    return pairs


class Images:
    """Decoded training photos, each read once, and their pixel tensors, each computed once (the image
    processor is deterministic and costs more than a small tower's step); and the frozen text encoder's
    vector of each hotel text, computed once (it never changes while training)."""

    def __init__(self) -> None:
        self.cache: dict[Path, Any] = {}
        self.texts: dict[str, Any] = {}
        self.tensors: dict[Path, Any] = {}

    def __call__(self, path: Path) -> Any:
        if path not in self.cache:
            self.cache[path] = load_rgb(path)
        return self.cache[path]

    def pixels(self, ranker: CoverRanker, paths: Sequence[Path]) -> Any:
        import torch

        missing = [path for path in dict.fromkeys(paths) if path not in self.tensors]
        if missing:
            self.tensors.update(zip(missing, ranker.pixels([self(path) for path in missing]), strict=True))
        return torch.stack([self.tensors[path] for path in paths])

    def text_vectors(self, ranker: CoverRanker, texts: Sequence[str]) -> Any:
        import torch

        missing = sorted(set(texts) - set(self.texts))
        if missing:
            self.texts.update(zip(missing, ranker.encode_text(missing), strict=True))
        return torch.stack([self.texts[text] for text in texts])


def _margins(ranker: CoverRanker, pairs: Sequence[Pair], images: Images) -> Any:
    """``s1 - s2`` for each pair, through the same module the endpoint serves."""
    texts = images.text_vectors(ranker, [pair.text for pair in pairs])
    first = ranker.encode_images(images.pixels(ranker, [pair.first for pair in pairs]))
    second = ranker.encode_images(images.pixels(ranker, [pair.second for pair in pairs]))
    return ranker(texts, first) - ranker(texts, second)


def hotel_scores(
    ranker: CoverRanker, hotels: Sequence[Hotel], images: Images | None = None
) -> list[tuple[list[float], int]]:
    """(the ranker's score of each photo, the cover's index) per hotel."""
    import torch

    images = images or Images()
    out = []
    with torch.inference_mode():
        for hotel in hotels:
            scores = ranker.score(hotel.text, [images(path) for path in hotel.images])
            out.append((scores.float().cpu().tolist(), hotel.cover))
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train, save, and return the summary (``pair_accuracy`` on the training pairs, validation covers)."""
    import torch

    args = parse(RankerArguments, argv)
    args.require("train", "model_dir")
    if not args.base_model and not (args.image_encoder and args.text_encoder):
        raise SystemExit("give --base-model (a ranker folder) or both --image-encoder and --text-encoder")
    seed_all(args.seed)
    hotels, explicit = read_hotels(args.train)
    if args.validation:
        val, _ = read_hotels(args.validation)
    else:
        held = grouped_split([h.hotel_id for h in hotels], args.val_fraction, args.seed)
        val = [h for h in hotels if h.hotel_id in held]
        hotels = [h for h in hotels if h.hotel_id not in held]
    hotels = [h for h in hotels if len(h.images) > 1]
    if not hotels and not explicit:
        raise ValueError(f"no training pairs in {args.train / 'hotels.jsonl'}")
    if args.base_model:
        ranker = CoverRanker.from_pretrained(args.base_model)
    else:
        ranker = CoverRanker.from_encoders(args.image_encoder, args.text_encoder)
    ranker = to_training_device(ranker)  # its encode methods move their inputs to it
    ranker.image_encoder.requires_grad_(not args.freeze_image_encoder)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    images = Images()

    def batch_at(step: int) -> list[Pair]:
        return draw_pairs(
            hotels, explicit, args.batch_size, args.negatives_per_positive, step_rng(args.seed, step)
        )

    def loss_of(batch: list[Pair]) -> Any:
        margins = _margins(ranker, batch, images)
        target = torch.tensor([float(p.first_is_better) for p in batch], device=margins.device)
        return loss_fn(margins, target)

    def validate() -> dict[str, float]:
        return cover_scores(hotel_scores(ranker, val, images))

    history = train_loop(ranker, batch_at, loss_of, args, evaluate=validate if val else None, desc="ranker")
    ranker.eval()
    pool = [Pair(p.text, p.better, p.worse, True) for p in explicit]
    pool += [Pair(h.text, h.images[h.cover], other, True) for h in hotels for other in _others(h)]
    with torch.inference_mode():
        margins = torch.cat(
            [
                _margins(ranker, pool[i : i + args.batch_size], images)
                for i in range(0, len(pool), args.batch_size)
            ]
        )
    accuracy = float((margins > 0).float().mean())
    ranker.save_pretrained(args.model_dir)
    summary = write_record(
        args.model_dir,
        history,
        args,
        title="cover ranker (pairwise BCE)",
        output_data_dir=args.output_data_dir,
        pair_accuracy=round(accuracy, 4),
        hotels=len(hotels),
        explicit_pairs=len(explicit),
        validation_hotels=len(val),
    )
    print(f"pair_accuracy={accuracy:.4f}", flush=True)
    return summary


if __name__ == "__main__":
    main()
