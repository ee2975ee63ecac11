"""Train the dual encoder (CLIP or SigLIP): contrastive fine-tuning on product photos and their words.

Each step draws ``--batch-size`` distinct products, one catalog photo of each (the item's box crop when
``products_truth.json`` has one, lightly augmented: zoom, shift, mirror, a little brightness and contrast, never
hue, because the words name colours) and one text of each, sampled from its ``product.json``: the name, or a
subset of its attribute words (pattern as adjective or noun, colour, fabric, category, fit, brand; see
:mod:`clip_embed.texts`). The loss compares every text with every photo of the batch:

* ``clip`` (``CLIPModel``): CLIP's symmetric InfoNCE with the model's learnt temperature;
* ``siglip`` (``SiglipModel``): SigLIP's pairwise sigmoid loss with its learnt scale and bias.

Both with several positives: a text matches every photo of the batch whose product has all the attributes the
text names (two red shirts are both "red shirt"), so products that share an attribute are never pushed apart on
it. Validation (held-out products: ``--val-fraction``, or ``--validation``) reports text recall@1/5 of
"pattern colour category" queries over the validation products' photos (:mod:`clip_embed.evaluate`).

Data (``--train``, SageMaker's training channel): the search layout of :mod:`common.search_data`. Start from
``--base-model`` (a clip_embed folder or hub id, CLIP or SigLIP) or, without one, a CLIP of the given size from
scratch with a word-level tokenizer over the training texts (:mod:`clip_embed.vocabulary`). Output
(``--model-dir``): weights, tokenizer, image processor, ``metrics.json``, ``loss_curve.png``.

The defaults are the demo's recipe: from scratch on the 240-product demo shop (``vitrine demo``), 1,500 steps of
64 products took ``text_recall_at_5`` (:mod:`clip_embed.evaluate`, all 240 products) to 0.94, held-out products
0.83 (48 px, patch 6, a 3-layer 96-wide ViT, a 2-layer 64-wide text encoder); it took 14 minutes on one thread
of a 2-core machine busy with other work (measured 2026-12-01), so expect less on an idle one.

Run as a SageMaker training job (``source_dir=model_code``, ``entry_point=clip_embed/train.py``) or locally.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # model_code/, for `common` and the handler

from common.search_data import SearchImage, read_catalog
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

MARGIN = 0.08
"""Stored crops reach this far beyond the item's box on each side, so augmentation can shift and zoom."""


@dataclass
class DualArguments(RunArguments):
    """Train the dual encoder (CLIP or SigLIP) on catalog photos and their product texts."""

    steps: int = help_field(1500, help="optimiser steps")
    batch_size: int = help_field(64, help="products per step (one photo and one text each)")
    lr: float = help_field(1e-3, help="peak learning rate (AdamW)")
    warmup_steps: int = help_field(50, help="linear warm-up steps, then cosine decay to 0")
    name: str = help_field("clip-embed-finetuned", help="the model name the embeddings report")
    family: str = help_field("clip", help="from scratch: clip or siglip (a --base-model decides by itself)")
    image_size: int = help_field(48, help="input side of a model built from scratch")
    patch_size: int = help_field(6, help="patch side of a model built from scratch")
    vision_width: int = help_field(96, help="vision width of a model built from scratch")
    vision_layers: int = help_field(3, help="vision depth of a model built from scratch")
    text_width: int = help_field(64, help="text width of a model built from scratch")
    text_layers: int = help_field(2, help="text depth of a model built from scratch")
    heads: int = help_field(4, help="attention heads of a model built from scratch")
    projection_dim: int = help_field(
        64, help="CLIP from scratch: width of the shared space (SigLIP: the vision width)"
    )
    max_tokens: int = help_field(24, help="text length of a model built from scratch")
    keep_attribute: float = help_field(0.5, help="probability that a caption names each attribute")
    name_share: float = help_field(0.15, help="share of captions that are the product's name")


# --- data ---------------------------------------------------------------------------------------------


def _region(box: Sequence[float] | None) -> tuple[float, float, float, float]:
    if box is None:
        return 0.0, 0.0, 1.0, 1.0
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) * MARGIN, (y1 - y0) * MARGIN
    return max(0.0, x0 - dx), max(0.0, y0 - dy), min(1.0, x1 + dx), min(1.0, y1 + dy)


def load_pool(images: Sequence[SearchImage], side: int) -> Any:
    """Every photo's item (box plus margin, else the whole photo) resized to ``side`` x ``side``, as one uint8
    tensor (N, 3, side, side): decoded once, augmented per step on tensors."""
    import torch
    from PIL import Image

    from common.imaging import decode

    pool = np.empty((len(images), side, side, 3), dtype=np.uint8)
    for index, image in enumerate(images):
        photo = decode(image.path.read_bytes(), target=side * 3)
        w, h = photo.size
        x0, y0, x1, y1 = _region(image.box)
        left, top = round(x0 * w), round(y0 * h)
        region = photo.crop((left, top, max(round(x1 * w), left + 1), max(round(y1 * h), top + 1)))
        pool[index] = np.asarray(region.resize((side, side), Image.BILINEAR))
    return torch.from_numpy(pool).permute(0, 3, 1, 2).contiguous()


def augment(pixels: Any, rng: Any, side: int, mean: Sequence[float], std: Sequence[float]) -> Any:
    """uint8 crops → normalised float pixels, each with its own zoom, shift, mirror, brightness and contrast."""
    import torch

    count = pixels.shape[0]
    x = pixels.float() / 255.0
    zoom = torch.tensor(rng.uniform(0.8, 1.0, count), dtype=torch.float32)
    flip = torch.tensor(np.where(rng.random(count) < 0.5, -1.0, 1.0), dtype=torch.float32)
    shift = torch.tensor(rng.uniform(-1, 1, (count, 2)), dtype=torch.float32) * (1 - zoom)[:, None]
    zeros = torch.zeros(count)
    theta = torch.stack(
        [torch.stack([zoom * flip, zeros, shift[:, 0]], 1), torch.stack([zeros, zoom, shift[:, 1]], 1)], 1
    )
    grid = torch.nn.functional.affine_grid(theta, (count, 3, side, side), align_corners=False)
    x = torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    brightness = torch.tensor(rng.uniform(0.9, 1.1, (count, 1, 1, 1)), dtype=torch.float32)
    contrast = torch.tensor(rng.uniform(0.9, 1.1, (count, 1, 1, 1)), dtype=torch.float32)
    average = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (((x - average) * contrast + average) * brightness).clamp(0, 1)
    return (x - torch.tensor(mean)[None, :, None, None]) / torch.tensor(std)[None, :, None, None]


# --- model --------------------------------------------------------------------------------------------


def from_scratch(args: DualArguments, texts: Sequence[str]) -> Any:
    """A :class:`clip_embed.inference.DualEncoder` of the given size, random weights, word-level tokenizer."""
    from clip_embed.inference import DualEncoder
    from clip_embed.vocabulary import special_ids, word_tokenizer, words_of
    from transformers import CLIPConfig, CLIPModel, SiglipConfig, SiglipModel

    tokenizer = word_tokenizer(words_of(texts), args.max_tokens)
    layers = {"num_attention_heads": args.heads}
    text = {
        **layers,
        **special_ids(),
        "hidden_size": args.text_width,
        "intermediate_size": args.text_width * 4,
        "num_hidden_layers": args.text_layers,
        "vocab_size": len(tokenizer),
        "max_position_embeddings": args.max_tokens,
    }
    vision = {
        **layers,
        "hidden_size": args.vision_width,
        "intermediate_size": args.vision_width * 4,
        "num_hidden_layers": args.vision_layers,
        "image_size": args.image_size,
        "patch_size": args.patch_size,
    }
    mean, std = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
    size = {"height": args.image_size, "width": args.image_size}
    if args.family == "clip":
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

        model = CLIPModel(
            CLIPConfig(text_config=text, vision_config=vision, projection_dim=args.projection_dim)
        )
        processor = CLIPImageProcessorPil(
            size={"shortest_edge": args.image_size}, crop_size=size, image_mean=mean, image_std=std
        )
    elif args.family == "siglip":
        from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

        text["projection_size"] = args.vision_width  # SigLIP's image vector is the vision width itself
        model = SiglipModel(SiglipConfig(text_config=text, vision_config=vision))
        processor = SiglipImageProcessorPil(size=size)
    else:
        raise SystemExit(f"--family must be clip or siglip, not {args.family!r}")
    return DualEncoder(
        model=model,
        tokenizer=tokenizer,
        image_processor=processor,
        family=args.family,
        name=args.name,
        dim=args.projection_dim if args.family == "clip" else args.vision_width,
        side=args.image_size,
        max_tokens=args.max_tokens,
    )


def contrastive_loss(model: Any, family: str, texts: Any, images: Any, positives: Any) -> Any:
    """The batch loss of unit text and image vectors, ``positives[i, j]`` true when text i matches photo j."""
    import torch

    similarity = texts @ images.T
    if family == "siglip":
        logits = similarity * model.logit_scale.exp() + model.logit_bias
        signs = positives.float() * 2 - 1
        return -torch.nn.functional.logsigmoid(signs * logits).sum() / len(texts)
    logits = similarity * model.logit_scale.exp().clamp(max=100)
    to_images = positives.float() / positives.sum(dim=1, keepdim=True)
    to_texts = positives.T.float() / positives.T.sum(dim=1, keepdim=True)
    loss_texts = -(to_images * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
    loss_images = -(to_texts * torch.log_softmax(logits.T, dim=1)).sum(dim=1).mean()
    return (loss_texts + loss_images) / 2


# --- training -----------------------------------------------------------------------------------------


def split(args: DualArguments, images: list[SearchImage]) -> tuple[list[SearchImage], list[SearchImage]]:
    """(train, validation) catalog photos, grouped by product; ``--validation`` gives a separate set."""
    if args.validation:
        return images, read_catalog(args.validation)
    held = grouped_split([i.product for i in images], args.val_fraction, args.seed)
    return [i for i in images if i.product not in held], [i for i in images if i.product in held]


def finetune(args: DualArguments, encoder: Any, train: list[SearchImage], val: list[SearchImage]):
    import torch
    from clip_embed.evaluate import recall_of
    from clip_embed.inference import embed_pixels, embed_texts
    from clip_embed.texts import caption, read_products

    products = read_products(args.train)
    if args.validation:
        products |= read_products(args.validation)
    train = [i for i in train if i.product in products]
    codes = sorted({i.product for i in train})
    if len(codes) < 2:
        raise ValueError("training needs photos of at least two products with a product.json")
    started = time.perf_counter()
    pool = load_pool(train, encoder.side)
    print(f"loaded {len(train)} training photos in {time.perf_counter() - started:.1f} s", flush=True)
    rows = {code: np.array([n for n, i in enumerate(train) if i.product == code]) for code in codes}
    processor = encoder.image_processor
    mean, std = list(processor.image_mean), list(processor.image_std)

    def batch_at(step: int) -> tuple[Any, list[str], Any]:
        rng = step_rng(args.seed, step)
        chosen = [codes[n] for n in rng.choice(len(codes), min(args.batch_size, len(codes)), replace=False)]
        index = torch.as_tensor([int(rng.choice(rows[code])) for code in chosen])
        captions = [caption(products[code], rng, args.keep_attribute, args.name_share) for code in chosen]
        positives = torch.tensor([[c.matches(products[code]) for code in chosen] for c in captions])
        pixels = augment(pool[index], rng, encoder.side, mean, std)
        return pixels, [c.text for c in captions], positives

    def loss_of(batch: tuple[Any, list[str], Any]) -> Any:
        pixels, texts, positives = batch
        device = next(encoder.model.parameters()).device
        images = embed_pixels(encoder, pixels.to(device))
        words = embed_texts(encoder, texts)
        return contrastive_loss(encoder.model, encoder.family, words, images, positives.to(device))

    def evaluate() -> dict[str, float]:
        return recall_of(encoder, Path(args.validation or args.train), val).figures("text_")

    history = train_loop(
        encoder.model,
        batch_at,
        loss_of,
        args,
        evaluate=evaluate if val else None,
        desc=f"clip_embed ({encoder.family})",
    )
    return history, {"products": len(codes), "images": len(train), "family": encoder.family}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train and save the dual encoder; returns the summary it also writes beside the weights."""
    args = parse(DualArguments, argv)
    args.require("train", "model_dir")
    seed_all(args.seed)
    from common.runtime import configure_torch

    configure_torch()
    images = read_catalog(args.train)
    train, val = split(args, images)
    if args.base_model:
        from clip_embed.inference import model_fn

        encoder = model_fn(str(args.base_model))
    else:
        from clip_embed.texts import PATTERN_WORDS, caption, read_products

        rng = np.random.default_rng(args.seed)
        products = read_products(args.train).values()
        texts = [p.name for p in products] + [caption(p, rng, keep=1.0, name_share=0).text for p in products]
        texts += [word for words in PATTERN_WORDS.values() for word in words] + ["fit", "by"]
        encoder = from_scratch(args, texts)
    encoder.model.float()
    history, details = finetune(args, encoder, train, val)
    encoder.model.config.vitrine_model_name = args.name
    args.model_dir.mkdir(parents=True, exist_ok=True)
    encoder.model.eval().save_pretrained(args.model_dir)
    encoder.tokenizer.save_pretrained(args.model_dir)
    encoder.image_processor.save_pretrained(args.model_dir)
    return write_record(
        args.model_dir,
        history,
        args,
        title=f"clip_embed ({encoder.family})",
        output_data_dir=args.output_data_dir,
        validation_products=len({i.product for i in val}),
        **details,
    )


if __name__ == "__main__":
    main()
