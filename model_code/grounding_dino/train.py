"""Fine-tune GroundingDINO on box annotations: the catalog's items in studio and street photos.

The prompt is the detection prompt the service sends (``--prompt``, default: the data's categories sorted and
joined as GroundingDINO expects, "hats . shoes ."); ``--label-map`` maps a category to a phrase of the prompt
(``shirt=clothes,hat=hats``). A box's class is its phrase's index, and transformers computes the DETR-style
loss (Hungarian matching, contrastive class loss, L1 + GIoU box loss) when given ``labels``. The image backbone
and the text encoder are frozen unless ``--train-backbones``: a few thousand boxes can adapt the fusion and the
heads, not re-learn vision. Photos with no item (a fabric close-up) are negatives: every query learns "none".

Data (``--train``): ``annotations.jsonl`` with one ``{"image": path, "boxes": [[x0, y0, x1, y1], ...],
"labels": ["shoes", ...]}`` a line (boxes in 0..1, paths relative to the folder), or, without it, the search
layout of :mod:`common.search_data` (``products_truth.json`` boxes of the catalog photos and the street photos'
boxes). Validation (a grouped split by image, or ``--validation``) reports recall at IoU 0.5 of the best-scored
detections and the top box's IoU. Output (``--model-dir``): weights, processor, ``metrics.json``,
``loss_curve.png``, loadable by ``inference.model_fn``.

Run as a SageMaker training job (``source_dir=model_code``, ``entry_point=grounding_dino/train.py``) or locally.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # model_code/, for `common` and the handler

from grounding_dino.inference import model_fn

from common.imaging import decode
from common.runtime import model_device, on_device, to_model
from common.training import (
    RunArguments,
    grouped_split,
    help_field,
    parse,
    read_manifest,
    sample,
    seed_all,
    step_rng,
    train_loop,
    write_record,
)


@dataclass
class DetectArguments(RunArguments):
    """Fine-tune GroundingDINO on box annotations."""

    prompt: str = help_field(
        "", help="the detection prompt, phrases separated by ' . ' (default: the categories)"
    )
    label_map: str = help_field("", help="category=phrase pairs, comma-separated (shirt=clothes,hat=hats)")
    train_backbones: bool = help_field(False, help="also train the image and text encoders")
    negatives: float = help_field(0.15, help="share of each batch drawn from photos with no item")
    lr: float = help_field(1e-4, help="peak learning rate (AdamW)")
    weight_decay: float = help_field(1e-4, help="AdamW weight decay")
    max_grad_norm: float = help_field(0.1, help="gradient clipping")
    focal_alpha: float = help_field(0.0, help="focal loss weight of the positives (0: the model's, 0.25)")
    batch_size: int = help_field(4, help="photos per step")


def read_annotations(folder: Path) -> list[dict[str, Any]]:
    """``annotations.jsonl`` rows, or rows made from the search layout's catalog and street boxes."""
    folder = Path(folder)
    if (folder / "annotations.jsonl").is_file():
        rows = read_manifest(folder, "annotations.jsonl")
        return [row | {"image": str(folder / row["image"])} for row in rows]
    from common.search_data import read_search_set

    photos: dict[str, dict[str, Any]] = {}
    for image in read_search_set(folder):
        row = photos.setdefault(str(image.path), {"image": str(image.path), "boxes": [], "labels": []})
        if image.box is not None:
            row["boxes"].append(list(image.box))
            row["labels"].append(image.category)
    if not photos:
        raise ValueError(f"no annotated photos in {folder}")
    return list(photos.values())


def phrases_of(
    rows: list[dict[str, Any]], prompt: str, label_map: str
) -> tuple[str, list[str], dict[str, str]]:
    """(prompt, its phrases, category → phrase)."""
    mapping = {}
    for pair in filter(None, (p.strip() for p in label_map.split(","))):
        category, _, phrase = pair.partition("=")
        mapping[category.strip().lower()] = phrase.strip().lower()
    categories = sorted({label.strip().lower() for row in rows for label in row["labels"]})
    if not categories:
        raise ValueError("the annotations have no labels")
    if prompt.strip():
        phrases = [p.strip().lower() for p in prompt.split(".") if p.strip()]
    else:
        phrases = sorted({mapping.get(c, c) for c in categories})
    missing = sorted({mapping.get(c, c) for c in categories} - set(phrases))
    if missing:
        raise ValueError(f"categories {missing} are not phrases of the prompt {phrases}: give --label-map")
    return " . ".join(phrases) + " .", phrases, {c: mapping.get(c, c) for c in categories}


def categories(rows: list[dict[str, Any]]) -> list[str]:
    """The data set's categories, sorted: the default prompt's phrase order."""
    return phrases_of(rows, "", "")[1]


def target(row: dict[str, Any], phrases: list[str], mapping: dict[str, str] | None = None) -> dict[str, Any]:
    """One image's labels as transformers wants them: phrase indices and (cx, cy, w, h) boxes in 0..1 of the
    image itself, not of the batch's padded canvas: GroundingDINO's proposals and reference points are
    fractions of each image's valid (unpadded) region (``valid_ratios``), and so are the boxes it predicts,
    which is what ``inference`` returns for any batch. Scaling targets to the canvas taught the model
    contradictory frames for the same photo depending on what it was batched with."""
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
    mapping = mapping or {}
    names = [mapping.get(label.strip().lower(), label.strip().lower()) for label in row["labels"]]
    classes = torch.tensor([phrases.index(name) for name in names], dtype=torch.long)
    return {"class_labels": classes, "boxes": centres}


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def detection_scores(
    predictions: Sequence[Sequence[dict[str, Any]]], truths: Sequence[dict[str, Any]], k: int = 8
) -> dict[str, float]:
    """Recall at IoU 0.5 among each photo's ``k`` best detections; mean IoU of the top box with its best
    truth; share of item-free photos with no detection."""
    found = total = 0
    top_ious, empty_right, empty_total = [], 0, 0
    for detections, truth in zip(predictions, truths, strict=True):
        boxes = [d["box"] for d in detections[:k]]
        if not truth["boxes"]:
            empty_total += 1
            empty_right += not detections
            continue
        for box in truth["boxes"]:
            total += 1
            found += any(iou(box, b) >= 0.5 for b in boxes)
        if boxes:
            top_ious.append(max(iou(boxes[0], t) for t in truth["boxes"]))
        else:
            top_ious.append(0.0)
    result = {
        "box_recall_at_iou50": round(found / max(1, total), 4),
        "top_box_iou": round(sum(top_ious) / max(1, len(top_ious)), 4),
    }
    if empty_total:
        result["empty_photos_right"] = round(empty_right / empty_total, 4)
    return result


def predict(
    detector: Any, paths: Sequence[str], prompt: str, box_threshold: float = 0.3, batch: int = 16
) -> list[list[dict[str, Any]]]:
    """The handler's detections for photos on disk (the same path the endpoint takes), ``batch`` a request."""
    from grounding_dino import inference
    from PIL import Image

    by_size: dict[tuple[int, int], list[int]] = {}
    for index, path in enumerate(paths):  # one size a request: boxes are fractions of a batch's padded canvas
        with Image.open(path) as image:
            by_size.setdefault(image.size, []).append(index)
    results: list[list[dict[str, Any]]] = [[] for _ in paths]
    for indices in by_size.values():
        for start in range(0, len(indices), batch):
            chunk = indices[start : start + batch]
            body = {
                "images": [base64.b64encode(Path(paths[i]).read_bytes()).decode() for i in chunk],
                "prompt": prompt,
                "box_threshold": box_threshold,
                "text_threshold": 0.25,
            }
            query = inference.input_fn(json.dumps(body), "application/json")
            for i, found in zip(chunk, inference.predict_fn(query, detector).results, strict=True):
                results[i] = found
    return results


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train and save; returns the summary it also writes beside the weights."""
    args = parse(DetectArguments, argv)
    args.require("train", "model_dir", "base_model")
    seed_all(args.seed)
    detector = model_fn(str(args.base_model))  # on runtime.device(): a GPU job trains on the GPU
    model, processor = detector.model.float().train(), detector.processor
    if args.focal_alpha:
        model.config.focal_alpha = args.focal_alpha
    if not args.train_backbones:
        for frozen in (model.model.backbone, model.model.text_backbone):
            frozen.requires_grad_(False)
    rows = read_annotations(args.train)
    prompt, phrases, mapping = phrases_of(rows, args.prompt, args.label_map)
    if args.validation:
        train, val = rows, read_annotations(args.validation)
    else:
        held = grouped_split([row["image"] for row in rows], args.val_fraction, args.seed)
        train = [row for row in rows if row["image"] not in held]
        val = [row for row in rows if row["image"] in held]
    positives = [row for row in train if row["boxes"]]
    negatives = [row for row in train if not row["boxes"]]
    if not positives:
        raise ValueError("no training photo has a box")
    cache: dict[str, Any] = {}

    def image_of(path: str) -> Any:
        if path not in cache:
            cache[path] = decode(Path(path).read_bytes(), target=detector.target_px)
        return cache[path]

    def batch_at(step: int) -> list[dict[str, Any]]:
        rng = step_rng(args.seed, step)
        empty = sum(rng.random(args.batch_size) < args.negatives) if negatives else 0
        return sample(positives, args.batch_size - empty, rng) + sample(negatives, empty, rng)

    def loss_of(batch: list[dict[str, Any]]) -> Any:
        images = [image_of(row["image"]) for row in batch]
        inputs = to_model(processor(images=images, text=[prompt] * len(batch), return_tensors="pt"), model)
        labels = [on_device(target(row, phrases, mapping), model_device(model)) for row in batch]
        return model(**inputs, labels=labels).loss

    def evaluate() -> dict[str, float]:
        shown = val[
            :200
        ]  # detector.model is the model being trained (accelerate wraps nothing on one device)
        predictions = predict(detector, [row["image"] for row in shown], prompt)
        return detection_scores(predictions, shown)

    history = train_loop(
        model, batch_at, loss_of, args, evaluate=evaluate if val else None, desc="grounding_dino"
    )
    args.model_dir.mkdir(parents=True, exist_ok=True)
    model.eval().save_pretrained(args.model_dir)
    processor.save_pretrained(args.model_dir)
    return write_record(
        args.model_dir,
        history,
        args,
        title="grounding_dino fine-tune",
        output_data_dir=args.output_data_dir,
        prompt=prompt,
        photos=len(train),
        validation_photos=len(val),
    )


if __name__ == "__main__":
    main()
