"""Train the pairwise cover ranker: a SageMaker training entry point that also runs locally.

Pairwise learning to rank: for two photos of the same hotel, ``sigmoid(s_better - s_worse)`` should be 1
(BCE against 1). The text encoder stays frozen; the image encoder, projector and head learn.

Data (``--train``, default ``$SM_CHANNEL_TRAINING``): a folder with ``hotels.jsonl``, one JSON object a line,
image paths relative to that folder. Either a hotel with its chosen cover, which gives one pair
(cover, other) per other image::

    {"hotel_id": "h1", "text": "Seaside hotel with a pool", "images": ["h1/0.jpg", "h1/1.jpg"], "cover": 1}

or an explicit pair::

    {"hotel_id": "h1", "text": "Seaside hotel with a pool", "better": "h1/1.jpg", "worse": "h1/0.jpg"}

Start weights (``--base-model``, default ``$SM_CHANNEL_MODEL``): a ranker folder, or give
``--image-encoder`` (CLIP vision) and ``--text-encoder`` (BGE-style BERT) folders or hub ids to start a
fresh head. The trained ranker is written to ``--model-dir`` (default ``$SM_MODEL_DIR``) in the folder
layout ``inference.py`` loads, and the last line printed is ``pair_accuracy=...`` on the training pairs.

Run as a SageMaker training job (``source_dir=model_code``, ``entry_point=ranker/train.py``: it imports
``common``) or locally.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # model_code/, for `common`

from model import CoverRanker  # this folder: the module the endpoint serves

from common.training import load_rgb, sampled_parser, seed_all, to_training_device, train_sampled


@dataclass(frozen=True)
class Pair:
    text: str
    better: Path
    worse: Path


def read_pairs(folder: Path) -> list[Pair]:
    """Every (better, worse) pair in ``folder/hotels.jsonl``; a malformed line stops training with its number."""
    pairs: list[Pair] = []
    lines = (folder / "hotels.jsonl").read_text().splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        try:
            if "better" in row:
                pairs.append(Pair(row["text"], folder / row["better"], folder / row["worse"]))
                continue
            images, cover = row["images"], row["cover"]
            pairs += [
                Pair(row["text"], folder / images[cover], folder / other)
                for other in images
                if other != images[cover]
            ]
        except (KeyError, IndexError, TypeError) as error:
            raise ValueError(f"hotels.jsonl line {number}: {error!r}") from None
    if not pairs:
        raise ValueError(f"no training pairs in {folder / 'hotels.jsonl'}")
    return pairs


def _margins(ranker: CoverRanker, pairs: list[Pair]):
    """``s_better - s_worse`` for each pair, through the same module the endpoint serves."""
    texts = ranker.encode_text([pair.text for pair in pairs])
    better = ranker.encode_images(ranker.pixels([load_rgb(pair.better) for pair in pairs]))
    worse = ranker.encode_images(ranker.pixels([load_rgb(pair.worse) for pair in pairs]))
    return ranker(texts, better) - ranker(texts, worse)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = sampled_parser(
        __doc__.split("\n\n")[0], steps=500, batch_size=16, lr=1e-4, base_model_required=False
    )
    parser.add_argument(
        "--image-encoder", help="CLIP vision folder or hub id (with --text-encoder, a fresh head)"
    )
    parser.add_argument("--text-encoder", help="BGE-style BERT folder or hub id")
    parser.add_argument(
        "--freeze-image-encoder", action="store_true", help="train only the projector and head"
    )
    args = parser.parse_args(argv)
    if not args.base_model and not (args.image_encoder and args.text_encoder):
        parser.error("give --base-model (a ranker folder) or both --image-encoder and --text-encoder")
    return args


def main(argv: list[str] | None = None) -> float:
    """Train, save, and return the pairwise accuracy on the training pairs."""
    import torch

    args = parse_args(argv)
    seed_all(args.seed)
    pairs = read_pairs(args.train)
    if args.base_model:
        ranker = CoverRanker.from_pretrained(args.base_model)
    else:
        ranker = CoverRanker.from_encoders(args.image_encoder, args.text_encoder)
    ranker = to_training_device(ranker)  # its encode methods move their inputs to it
    ranker.image_encoder.requires_grad_(not args.freeze_image_encoder)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def loss_of(batch: list[Pair]) -> torch.Tensor:
        margins = _margins(ranker, batch)
        return loss_fn(margins, torch.ones_like(margins))

    train_sampled(ranker, pairs, loss_of, args, log_every=50)
    ranker.eval()
    with torch.inference_mode():
        margins = torch.cat(
            [_margins(ranker, pairs[i : i + args.batch_size]) for i in range(0, len(pairs), args.batch_size)]
        )
    accuracy = float((margins > 0).float().mean())
    ranker.save_pretrained(args.model_dir)
    print(f"pair_accuracy={accuracy:.4f}", flush=True)
    return accuracy


if __name__ == "__main__":
    main()
