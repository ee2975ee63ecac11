"""Fine-tuning GroundingDINO on box annotations (the catalog's garments in street and studio photos).

The prompt is every category of the data set joined as GroundingDINO expects ("bag . shoes ."); a box's
class is its category's phrase index, and transformers computes the DETR-style loss (Hungarian matching,
contrastive class loss, L1 + GIoU box loss) when given ``labels``. The image backbone and the text encoder
are frozen by default: a few thousand boxes can adapt the fusion and the heads, not re-learn vision.

Data: ``annotations.jsonl`` in the training channel, one ``{"image": path, "boxes": [[x0, y0, x1, y1], ...],
"labels": ["shoes", ...]}`` per line, boxes normalised to 0..1, paths relative to the channel.
Output: weights and processor saved with ``save_pretrained``, loadable by ``inference.model_fn``.

Run as a SageMaker training job (``source_dir=model_code``, ``entry_point=grounding_dino/train.py``) or locally.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # model_code/, for `common` and the handler

from grounding_dino.inference import model_fn

from common.imaging import decode
from common.runtime import model_device, on_device, to_model
from common.training import base_parser, read_manifest, run_epochs, save_finetuned


def categories(rows: list[dict[str, Any]]) -> list[str]:
    """The data set's categories, sorted: their order is the prompt's phrase order."""
    found = sorted({label.strip().lower() for row in rows for label in row["labels"]})
    if not found:
        raise ValueError("the annotations have no labels")
    return found


def target(row: dict[str, Any], phrases: list[str]) -> dict[str, Any]:
    """One image's labels as transformers wants them: phrase indices and (cx, cy, w, h) boxes in 0..1."""
    import torch

    if len(row["boxes"]) != len(row["labels"]):
        raise ValueError(f"{row['image']}: {len(row['boxes'])} boxes but {len(row['labels'])} labels")
    boxes = torch.tensor(row["boxes"], dtype=torch.float32).reshape(-1, 4).clamp(0, 1)
    centres = torch.stack(
        [
            (boxes[:, 0] + boxes[:, 2]) / 2,
            (boxes[:, 1] + boxes[:, 3]) / 2,
            boxes[:, 2] - boxes[:, 0],
            boxes[:, 3] - boxes[:, 1],
        ],
        dim=-1,
    )
    classes = torch.tensor(
        [phrases.index(label.strip().lower()) for label in row["labels"]], dtype=torch.long
    )
    return {"class_labels": classes, "boxes": centres}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train and save; returns the summary it also writes beside the weights."""
    parser = base_parser(__doc__.splitlines()[0], default_base_model="IDEA-Research/grounding-dino-tiny")
    parser.add_argument(
        "--train-backbones", action="store_true", help="also train the image and text encoders"
    )
    args = parser.parse_args(argv)

    import torch

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    detector = model_fn(str(args.base_model))  # on runtime.device(): a GPU job trains on the GPU
    model, processor = detector.model.train(), detector.processor
    if not args.train_backbones:
        for frozen in (model.model.backbone, model.model.text_backbone):
            frozen.requires_grad_(False)
    rows = read_manifest(args.train, "annotations.jsonl")
    phrases = categories(rows)
    prompt = " . ".join(phrases) + " ."
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=args.lr, weight_decay=1e-4
    )

    def shuffled() -> Iterator[list[dict[str, Any]]]:
        order = rows[:]
        rng.shuffle(order)
        for start in range(0, len(order), args.batch_size):
            yield order[start : start + args.batch_size]

    def loss_of(batch: list[dict[str, Any]]) -> Any:
        images = [
            decode((args.train / row["image"]).read_bytes(), target=detector.target_px) for row in batch
        ]
        inputs = to_model(processor(images=images, text=[prompt] * len(batch), return_tensors="pt"), model)
        labels = [on_device(target(row, phrases), model_device(model)) for row in batch]
        return model(**inputs, labels=labels).loss

    losses = run_epochs(
        model,
        optimizer,
        shuffled,
        loss_of,
        epochs=args.epochs,
        max_steps=args.max_steps,
        max_grad_norm=0.1,
    )
    return save_finetuned(args.model_dir, model, processor, losses, prompt=prompt)


if __name__ == "__main__":
    main()
