"""Train the DINO ViT embedder: stage ``pretrain`` (DINO self-distillation) and stage ``finetune`` (product ids).

* ``--stage pretrain``: DINO self-distillation on the set's photos with no labels (Caron et al. 2021). A student
  ViT sees two global and ``--local-crops`` small crops of a photo; an EMA teacher (momentum ``--ema`` rising to
  1) sees the global ones; the student is trained to give, for every crop, the distribution the teacher gives
  for the other views, the teacher's output centred (a running mean, ``--center-momentum``) and sharpened
  (``--teacher-temp`` below ``--student-temp``). Matching a small crop of a garment to the whole photo is what
  teaches the backbone to attend to the item rather than the background. The teacher's backbone is saved.
* ``--stage finetune``: cross-entropy over the product ids of the training products on the CLS embedding the
  endpoint serves (a normalised-softmax head: cosine logits times ``--scale``, with label smoothing), each batch
  half catalog photos and half street items when the set has street photos. The head is dropped; the backbone
  is saved for embeddings.

Data (``--train``, SageMaker's training channel): the search layout of :mod:`common.search_data` (catalog
folders, ``street/truth.json``). Products are split into train and validation groups (``--val-fraction``, or
``--validation`` for a separate set): validation reports CMC rank-1/5/10 of the held-out products' street items
against their catalog photos, through the same image processor the endpoint uses. Start from ``--base-model``
(a ViT/DINOv2 folder or hub id, e.g. the pretrain stage's output) or, without one, a ViT of the given size from
scratch. Output (``--model-dir``): weights, image processor, ``metrics.json``, ``loss_curve.png``.

Run as a SageMaker training job (``source_dir=model_code``, ``entry_point=dino_embed/train.py``) or locally.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # model_code/, for `common` and the handler

from common.search_data import SearchImage, read_search_set
from common.training import (
    RunArguments,
    grouped_split,
    help_field,
    parse,
    seed_all,
    step_rng,
    train_loop,
    write_record,
)

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
MARGIN = 0.12
"""Stored crops reach this far beyond the item's box on each side, so augmentation can shift and rotate."""


@dataclass
class EmbedArguments(RunArguments):
    """Train the DINO ViT embedder (stage pretrain or finetune) on catalog and street photos."""

    stage: str = help_field(
        "finetune", help="pretrain (DINO self-distillation, no labels) or finetune (product ids)"
    )
    name: str = help_field("dino-embed-finetuned", help="the model name the embeddings report")
    image_size: int = help_field(96, help="input side of a ViT built from scratch (no --base-model)")
    patch_size: int = help_field(16, help="patch side of a ViT built from scratch")
    hidden_size: int = help_field(128, help="width of a ViT built from scratch")
    layers: int = help_field(4, help="depth of a ViT built from scratch")
    heads: int = help_field(4, help="attention heads of a ViT built from scratch")
    scale: float = help_field(16.0, help="finetune: cosine-logit scale of the product-id head")
    label_smoothing: float = help_field(0.1, help="finetune: label smoothing of the cross-entropy")
    street_share: float = help_field(0.5, help="finetune: share of each batch drawn from street items")
    occlusion: float = help_field(0.35, help="probability of a random block over part of a training crop")
    aux_attributes: str = help_field(
        "category,colour,pattern,pattern_colour",
        help="finetune: product.json fields each given an auxiliary cross-entropy head on the same embedding "
        "(comma-separated; empty: product ids only): they teach what tells products apart, so the embedding "
        "also separates products it never saw",
    )
    aux_weight: float = help_field(0.5, help="finetune: weight of each auxiliary head's loss")
    whole_catalog: bool = help_field(
        True,
        help="finetune: also train on every boxed catalog photo whole, as ingestion embeds it when the "
        "detector finds nothing in it",
    )
    ingest_detector: str | None = help_field(
        None,
        help="finetune: a grounding_dino folder; every catalog photo is also trained on as that detector cuts "
        "it (its best box), which is what catalog ingestion embeds",
    )
    detect_prompt: str = help_field(
        "clothes . pants . hats . shoes", help="the prompt --ingest-detector is asked"
    )
    partial_zoom: float = help_field(
        1.0,
        help="finetune: whole catalog photos are also seen cut down to this share of each side (at random), "
        "as an imperfect detector's box cuts them at ingestion (1: never)",
    )
    local_crops: int = help_field(4, help="pretrain: small crops per photo the student sees")
    out_dim: int = help_field(1024, help="pretrain: prototypes of the DINO head")
    teacher_temp: float = help_field(0.04, help="pretrain: teacher softmax temperature (sharpening)")
    student_temp: float = help_field(0.1, help="pretrain: student softmax temperature")
    center_momentum: float = help_field(0.9, help="pretrain: running-mean momentum of the teacher centre")
    ema: float = help_field(0.99, help="pretrain: teacher EMA momentum at the start (cosine to 1)")


# --- data ---------------------------------------------------------------------------------------------


def _crop_region(box: Sequence[float] | None, margin: float) -> tuple[float, float, float, float]:
    if box is None:
        return 0.0, 0.0, 1.0, 1.0
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
    return max(0.0, x0 - dx), max(0.0, y0 - dy), min(1.0, x1 + dx), min(1.0, y1 + dy)


def load_pool(images: Sequence[SearchImage], side: int, margin: float = MARGIN) -> Any:
    """Every image's item (its box plus ``margin``; no box: the whole photo) squashed to ``side`` x ``side``,
    as one uint8 tensor (N, 3, side, side): decoded once, augmented per step on tensors."""
    import numpy as np
    import torch
    from PIL import Image

    from common.imaging import decode

    pool = np.empty((len(images), side, side, 3), dtype=np.uint8)
    opened: dict[Path, Any] = {}
    for index, image in enumerate(images):
        if image.path not in opened:
            opened = {image.path: decode(image.path.read_bytes(), target=side * 3)}
        photo = opened[image.path]
        x0, y0, x1, y1 = _crop_region(image.box, margin if image.box else 0.0)
        w, h = photo.size
        region = photo.crop(
            (
                round(x0 * w),
                round(y0 * h),
                max(round(x1 * w), round(x0 * w) + 1),
                max(round(y1 * h), round(y0 * h) + 1),
            )
        )
        pool[index] = np.asarray(region.resize((side, side), Image.BILINEAR))
    return torch.from_numpy(pool).permute(0, 3, 1, 2).contiguous()


def augment(
    pixels: Any,
    rng: Any,
    out: int,
    *,
    boxed: Any,
    scale: tuple[float, float],
    occlusion: float,
    street: Any = None,
    partial: Any = None,
    partial_zoom: float = 1.0,
) -> Any:
    """A batch of uint8 crops → normalised float pixels (B, 3, out, out), each with its own random view:
    zoom (``scale`` of the stored crop; boxed crops centred on the box), shift, small rotation and aspect
    change, brightness / contrast / saturation, sometimes a block of colour over a corner, sensor noise."""
    import torch

    count = pixels.shape[0]
    x = pixels.float() / 255.0
    box_share = 1.0 / (1.0 + 2 * MARGIN)
    zoom = torch.tensor(rng.uniform(*scale, count), dtype=torch.float32)
    zoom = torch.where(torch.as_tensor(boxed), zoom * box_share / scale[1], zoom)
    stretch = np.full(count, 0.12)
    if partial is not None and partial_zoom < 1.0:
        cut = torch.as_tensor(np.asarray(partial))
        zoom = torch.where(
            cut, torch.tensor(rng.uniform(partial_zoom, 1.0, count), dtype=torch.float32), zoom
        )
        stretch = np.where(np.asarray(partial), 0.35, stretch)
    aspect = torch.tensor(np.exp(rng.uniform(-1, 1, count) * stretch), dtype=torch.float32)
    angle = torch.tensor(np.radians(rng.uniform(-8, 8, count)), dtype=torch.float32)
    shift = torch.tensor(rng.uniform(-1, 1, (count, 2)), dtype=torch.float32) * (1 - zoom)[:, None] * 0.6
    cos, sin = torch.cos(angle), torch.sin(angle)
    sx, sy = zoom * aspect.sqrt(), zoom / aspect.sqrt()
    theta = torch.stack(
        [
            torch.stack([cos * sx, -sin * sy, shift[:, 0]], 1),
            torch.stack([sin * sx, cos * sy, shift[:, 1]], 1),
        ],
        1,
    )
    grid = torch.nn.functional.affine_grid(theta, (count, 3, out, out), align_corners=False)
    x = torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    # Street photos were already lit differently when drawn: studio photos get the street's range of light.
    light = rng.uniform(0.72, 1.12, count)
    if street is not None:
        light = np.where(np.asarray(street), rng.uniform(0.9, 1.1, count), light)
    brightness = torch.tensor(light[:, None, None, None], dtype=torch.float32)
    contrast = torch.tensor(rng.uniform(0.8, 1.2, (count, 1, 1, 1)), dtype=torch.float32)
    saturation = torch.tensor(rng.uniform(0.8, 1.2, (count, 1, 1, 1)), dtype=torch.float32)
    grey = x.mean(dim=1, keepdim=True)
    x = grey + (x - grey) * saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = ((x - mean) * contrast + mean) * brightness
    for row in np.nonzero(rng.random(count) < occlusion)[0]:
        h, w = (int(out * rng.uniform(0.15, 0.35)) for _ in range(2))
        top = 0 if rng.random() < 0.5 else out - h
        left = 0 if rng.random() < 0.5 else out - w
        x[row, :, top : top + h, left : left + w] = torch.tensor(
            rng.uniform(0.1, 0.9, 3), dtype=torch.float32
        )[:, None, None]
    noise = torch.Generator().manual_seed(int(rng.integers(2**62)))
    x = x + torch.randn(x.shape, generator=noise) * 0.025
    x = x.clamp(0, 1)
    mean_t = torch.tensor(MEAN)[None, :, None, None]
    std_t = torch.tensor(STD)[None, :, None, None]
    return (x - mean_t) / std_t


# --- model --------------------------------------------------------------------------------------------


def build_backbone(args: EmbedArguments) -> tuple[Any, Any]:
    """(ViT, image processor): from ``--base-model``, else a ViT of the given size from scratch."""
    from transformers import ViTConfig, ViTModel
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    if args.base_model:
        from dino_embed.inference import model_fn

        embedder = model_fn(str(args.base_model))
        return embedder.model.float(), embedder.image_processor
    config = ViTConfig(
        hidden_size=args.hidden_size,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        intermediate_size=args.hidden_size * 4,
        image_size=args.image_size,
        patch_size=args.patch_size,
    )
    model = ViTModel(config, add_pooling_layer=False)
    processor = ViTImageProcessorPil(
        size={"height": args.image_size, "width": args.image_size}, image_mean=list(MEAN), image_std=list(STD)
    )
    return model, processor


def input_size(processor: Any) -> int:
    from common.runtime import input_side

    return input_side(processor, default=224)


def cls_embedding(model: Any, pixels: Any) -> Any:
    """The CLS token of the last layer, L2-normalised: exactly what ``inference.predict_fn`` returns."""
    import torch

    hidden = model(pixel_values=pixels, interpolate_pos_encoding=True).last_hidden_state[:, 0]
    return torch.nn.functional.normalize(hidden, dim=-1)


class CosineHead:
    """Built lazily so torch is imported only when training."""

    @staticmethod
    def make(dim: int, classes: int, scale: float) -> Any:
        import torch

        class Head(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.weight = torch.nn.Parameter(torch.randn(classes, dim) * 0.02)
                self.scale = scale

            def forward(self, embeddings: Any) -> Any:
                return self.scale * embeddings @ torch.nn.functional.normalize(self.weight, dim=-1).T

        return Head()


class DinoHead:
    @staticmethod
    def make(dim: int, out_dim: int, hidden: int = 512, bottleneck: int = 128) -> Any:
        import torch
        from torch import nn

        class Head(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.mlp = nn.Sequential(
                    nn.Linear(dim, hidden),
                    nn.GELU(),
                    nn.Linear(hidden, hidden),
                    nn.GELU(),
                    nn.Linear(hidden, bottleneck),
                )
                self.last = nn.utils.parametrizations.weight_norm(nn.Linear(bottleneck, out_dim, bias=False))

            def forward(self, x: Any) -> Any:
                return self.last(torch.nn.functional.normalize(self.mlp(x), dim=-1))

        return Head()


# --- validation ---------------------------------------------------------------------------------------


def crops(images: Sequence[SearchImage], side: int) -> list[Any]:
    """Each image's item as the endpoint is sent it: its box crop, else the whole photo (PIL)."""
    from common.imaging import crop, decode

    out, opened = [], {}
    for image in images:
        if image.path not in opened:
            opened = {image.path: decode(image.path.read_bytes(), target=side * 3)}
        photo = opened[image.path]
        out.append(crop(photo, image.box) if image.box else photo)
    return out


def embed_crops(model: Any, processor: Any, pil: Sequence[Any], batch: int = 64) -> Any:
    """Unit vectors of PIL images through the endpoint's image processor and CLS embedding."""
    import torch

    from common.runtime import to_model

    vectors = []
    for start in range(0, len(pil), batch):
        inputs = to_model(processor(images=list(pil[start : start + batch]), return_tensors="pt"), model)
        with torch.inference_mode():
            vectors.append(cls_embedding(model, inputs["pixel_values"]).float().cpu())
    return torch.cat(vectors).numpy() if vectors else np.zeros((0, 1), dtype=np.float32)


def embed_images(model: Any, processor: Any, images: Sequence[SearchImage], batch: int = 64) -> Any:
    """Unit vectors of ``images`` (their box crop, else the whole photo) through the endpoint's processor."""
    return embed_crops(model, processor, crops(images, input_size(processor)), batch)


def search_validator(model: Any, processor: Any, images: Sequence[SearchImage]) -> Any:
    """A function giving CMC of the street items of ``images`` against their catalog photos (crops decoded
    once, embedded at each call), or None when the set has no street item or no catalog photo."""
    from common.evaluation import cmc

    gallery = [i for i in images if not i.street]
    queries = [i for i in images if i.street]
    if not gallery or not queries:
        return None
    side = input_size(processor)
    gallery_crops, query_crops = crops(gallery, side), crops(queries, side)

    def validate() -> dict[str, float]:
        scores = cmc(
            embed_crops(model, processor, query_crops),
            [q.product for q in queries],
            embed_crops(model, processor, gallery_crops),
            [g.product for g in gallery],
        )
        return scores.figures()

    return validate


# --- the stages ---------------------------------------------------------------------------------------


def split(args: EmbedArguments, images: list[SearchImage]) -> tuple[list[SearchImage], list[SearchImage]]:
    """(train, validation) images, grouped by product; ``--validation`` gives a separate validation set."""
    if args.validation:
        return images, read_search_set(args.validation)
    held = grouped_split([i.product for i in images], args.val_fraction, args.seed)
    return [i for i in images if i.product not in held], [i for i in images if i.product in held]


def finetune(
    args: EmbedArguments, model: Any, processor: Any, train: list[SearchImage], val: list[SearchImage]
):
    import torch

    side = input_size(processor)
    stored = round(side * (1 + 2 * MARGIN))
    started = time.perf_counter()
    if args.whole_catalog:
        train = train + [
            dataclasses.replace(i, box=None) for i in train if not i.street and i.box is not None
        ]
    if args.ingest_detector:
        from dino_embed.evaluate import as_ingested

        photos = [i for i in train if not i.street and i.view != "detail" and i.box is not None]
        cut = as_ingested(photos, args.ingest_detector, args.detect_prompt)
        train = train + [i for i in cut if i.box is not None]
    pool = load_pool(train, stored)
    print(f"loaded {len(train)} training crops in {time.perf_counter() - started:.1f} s", flush=True)
    products = sorted({i.product for i in train})
    if len(products) < 2:
        raise ValueError("finetune needs photos of at least two different products")
    label = torch.tensor([products.index(i.product) for i in train])
    boxed = torch.tensor([i.box is not None for i in train])
    street = np.array([i.street for i in train])
    street_rows, catalog_rows = np.nonzero(street)[0], np.nonzero(~street)[0]
    head = CosineHead.make(model.config.hidden_size, len(products), args.scale)
    modules = {"backbone": model, "head": head}
    aux_names = [name.strip() for name in args.aux_attributes.split(",") if name.strip()]
    aux_targets = {}
    for name in aux_names:
        values = sorted({i.attribute(name) for i in train})
        if len(values) > 1:
            aux_targets[name] = torch.tensor([values.index(i.attribute(name)) for i in train])
            modules[f"aux_{name}"] = CosineHead.make(model.config.hidden_size, len(values), args.scale)
    wrapper = torch.nn.ModuleDict(modules)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)

    def batch_at(step: int) -> tuple[Any, Any]:
        rng = step_rng(args.seed, step)
        from_street = round(args.batch_size * args.street_share) if len(street_rows) else 0
        rows = np.concatenate(
            [
                rng.choice(street_rows, from_street) if from_street else np.zeros(0, dtype=int),
                rng.choice(catalog_rows, args.batch_size - from_street),
            ]
        )
        index = torch.as_tensor(rows)
        pixels = augment(
            pool[index],
            rng,
            side,
            boxed=boxed[index],
            scale=(0.8, 1.0),
            occlusion=args.occlusion,
            street=street[rows],
            partial=~street[rows] & ~boxed[index].numpy(),
            partial_zoom=args.partial_zoom,
        )
        return pixels, label[index], {name: t[index] for name, t in aux_targets.items()}

    def loss_of(batch: tuple[Any, Any, dict[str, Any]]) -> Any:
        pixels, target, aux = batch
        device = next(wrapper.parameters()).device
        embeddings = cls_embedding(wrapper["backbone"], pixels.to(device))
        loss = loss_fn(wrapper["head"](embeddings), target.to(device))
        for name, values in aux.items():
            loss = loss + args.aux_weight * loss_fn(wrapper[f"aux_{name}"](embeddings), values.to(device))
        return loss

    history = train_loop(
        wrapper,
        batch_at,
        loss_of,
        args,
        evaluate=search_validator(model, processor, val),
        desc="dino_embed finetune",
    )
    details = {"products": len(products), "images": len(train), "street_items": int(street.sum())}
    return history, details | {"aux_attributes": sorted(aux_targets)}


def pretrain(
    args: EmbedArguments, model: Any, processor: Any, train: list[SearchImage], val: list[SearchImage]
):
    import torch

    side = input_size(processor)
    local = max(16, side // 2)
    stored = round(side * (1 + 2 * MARGIN))
    pool = load_pool(train, stored)
    boxed = torch.tensor([i.box is not None for i in train])
    student_head = DinoHead.make(model.config.hidden_size, args.out_dim)
    student = torch.nn.ModuleDict({"backbone": model, "head": student_head})
    teacher = copy.deepcopy(student).requires_grad_(False)
    center = torch.nn.Module()
    center.register_buffer("value", torch.zeros(1, args.out_dim))

    def views(rng: Any, index: Any, size: int, scale: tuple[float, float]) -> Any:
        return augment(pool[index], rng, size, boxed=boxed[index], scale=scale, occlusion=args.occlusion / 2)

    def batch_at(step: int) -> tuple[list[Any], list[Any]]:
        rng = step_rng(args.seed, step)
        index = torch.as_tensor(rng.choice(len(pool), args.batch_size))
        globals_ = [views(rng, index, side, (0.55, 1.0)) for _ in range(2)]
        locals_ = [views(rng, index, local, (0.25, 0.5)) for _ in range(args.local_crops)]
        return globals_, locals_

    def project(network: Any, pixels: Any) -> Any:
        hidden = network["backbone"](pixel_values=pixels, interpolate_pos_encoding=True).last_hidden_state[
            :, 0
        ]
        return network["head"](hidden)

    def loss_of(batch: tuple[list[Any], list[Any]]) -> Any:
        globals_, locals_ = batch
        device = next(student.parameters()).device
        globals_ = [g.to(device) for g in globals_]
        locals_ = [v.to(device) for v in locals_]
        with torch.no_grad():
            teacher_out = [project(teacher, g) for g in globals_]
            targets = [torch.softmax((t - center.value) / args.teacher_temp, dim=-1) for t in teacher_out]
            center.value.mul_(args.center_momentum).add_(
                torch.cat(teacher_out).mean(dim=0, keepdim=True), alpha=1 - args.center_momentum
            )
        student_out = [project(student, v) for v in [*globals_, *locals_]]
        total, terms = 0.0, 0
        for t_index, target in enumerate(targets):
            for s_index, output in enumerate(student_out):
                if s_index == t_index:
                    continue
                total = (
                    total
                    + torch.sum(
                        -target * torch.log_softmax(output / args.student_temp, dim=-1), dim=-1
                    ).mean()
                )
                terms += 1
        return total / terms

    def ema(step: int) -> None:
        momentum = 1 - (1 - args.ema) * (math.cos(math.pi * step / args.steps) + 1) / 2
        with torch.no_grad():
            for s, t in zip(student.parameters(), teacher.parameters(), strict=True):
                t.mul_(momentum).add_(s.detach(), alpha=1 - momentum)

    history = train_loop(
        student,
        batch_at,
        loss_of,
        args,
        evaluate=search_validator(teacher["backbone"], processor, val),
        after_step=ema,
        extra_state=[teacher, center],
        desc="dino_embed pretrain",
    )
    model.load_state_dict(teacher["backbone"].state_dict())  # the teacher is the better backbone (DINO)
    return history, {"images": len(train)}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train one stage and save the backbone; returns the summary it also writes beside the weights."""
    args = parse(EmbedArguments, argv)
    args.require("train", "model_dir")
    if args.stage not in ("pretrain", "finetune"):
        raise SystemExit(f"--stage must be pretrain or finetune, not {args.stage!r}")
    seed_all(args.seed)
    from common.runtime import configure_torch

    configure_torch()
    model, processor = build_backbone(args)
    train, val = split(args, read_search_set(args.train))
    stage = finetune if args.stage == "finetune" else pretrain
    history, details = stage(args, model, processor, train, val)
    model.config.vitrine_model_name = args.name
    args.model_dir.mkdir(parents=True, exist_ok=True)
    model.eval().save_pretrained(args.model_dir)
    processor.save_pretrained(args.model_dir)
    return write_record(
        args.model_dir,
        history,
        args,
        title=f"dino_embed {args.stage}",
        output_data_dir=args.output_data_dir,
        stage=args.stage,
        validation_products=len({i.product for i in val}),
        **details,
    )


if __name__ == "__main__":
    main()
