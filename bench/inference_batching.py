"""Batched against one-at-a-time inference, per model, through the in-process endpoint (same bytes as SageMaker).

Each model is one ``Entry`` in ``ENTRIES``: how to build its weights, and how many images a batch holds.
Both runs happen in this process on the same images, so the ratio is meaningful on any machine; the absolute
images/s are this machine's. Last line: ``dino_embed_batch_speedup=<x>`` (batch of 32 against one at a time).

Run: ``.venv/bin/python bench/inference_batching.py [--images N] [--model NAME ...]``
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lambdas"))

from vitrine.adapters.local.inprocess_endpoint import InProcessEndpoint  # noqa: E402


def raw_image(image: bytes) -> tuple[bytes, str]:
    return image, "image/jpeg"


def b64(image: bytes) -> str:
    return base64.b64encode(image).decode()


@dataclass(frozen=True)
class Entry:
    """One model in the table: ``build(folder)`` writes weights its ``model_fn`` loads; ``one`` and ``many``
    build the request for one work item and for a batch (default: raw bytes, and ``{"images": [...]}``)."""

    model: str
    weights: str
    build: Callable[[Path], None]
    batch: int
    options: dict | None = None
    unit: str = "image"
    one: Callable[[bytes], tuple[bytes, str]] = raw_image
    many: Callable[[list[bytes]], bytes] | None = None

    def batch_body(self, images: list[bytes]) -> bytes:
        if self.many:
            return self.many(images)
        return json.dumps({"images": [b64(image) for image in images], **(self.options or {})}).encode()


def tagging_request(image: bytes) -> dict:
    """The catalog tagger's real chat request, capped at 48 new tokens to keep the bench short."""
    from vitrine.catalog.vlm_tagger import chat_request

    return {**chat_request(image, "image/jpeg"), "max_tokens": 48}


HOTEL_TEXT = "Boutique hotel by the sea with a rooftop pool and bright rooms"
QUESTIONS = ["What is the fabric?", "What is the fit?", "What is the pattern?", "What is the sleeve length?"]


def vit_s16_random(folder: Path) -> None:
    """DINO ViT-S/16 shape (hidden 384, 12 layers, 6 heads, 224 px), random weights: real compute, no download."""
    import torch
    from transformers import ViTConfig, ViTModel
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    torch.manual_seed(0)
    config = ViTConfig(
        hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536, image_size=224
    )
    config.vitrine_model_name = "random-vit-s16"
    ViTModel(config, add_pooling_layer=False).save_pretrained(folder)
    ViTImageProcessorPil(size={"height": 224, "width": 224}).save_pretrained(folder)


def tiny(model: str) -> Callable[[Path], None]:
    """The tiny builder of ``model`` (for models too large to run here at their real size)."""

    def build(folder: Path) -> None:
        import importlib

        importlib.import_module(f"vitrine_dev.modelkit.tiny.{model}").build(folder)

    return build


def as_json(payload: dict) -> tuple[bytes, str]:
    return json.dumps(payload).encode(), "application/json"


ENTRIES = [
    Entry("dino_embed", "random ViT-S/16 (384-d, 12 layers, 224 px)", vit_s16_random, batch=32),
    Entry("grounding_dino", "tiny random GroundingDINO (32-d, 128 px)", tiny("grounding_dino"), batch=8),
    Entry(
        "llava",
        "tiny random LLaVA-NeXT, tagging prompt, 48 tokens",
        tiny("llava"),
        batch=16,
        one=lambda image: as_json(tagging_request(image)),
        many=lambda images: as_json({"requests": [tagging_request(i) for i in images]})[0],
    ),
    Entry(
        "ranker",
        "tiny random CLIP + BGE ranker, one hotel",
        tiny("ranker"),
        batch=16,
        one=lambda image: as_json({"text": HOTEL_TEXT, "images": [b64(image)]}),
        many=lambda images: as_json({"text": HOTEL_TEXT, "images": [b64(i) for i in images]})[0],
    ),
    Entry(
        "blip2_attributes",
        "tiny random BLIP-2 (T5), questions on one image",
        tiny("blip2_attributes"),
        batch=8,
        unit="question",
        one=lambda image: as_json({"image": b64(image), "questions": QUESTIONS[:1]}),
        many=lambda images: as_json(
            {
                "image": b64(images[0]),
                "questions": [QUESTIONS[i % len(QUESTIONS)] for i in range(len(images))],
            }
        )[0],
    ),
]


def photos(count: int, size: tuple[int, int] = (800, 600)) -> list[bytes]:
    """Photo-sized JPEGs with shapes, different from each other (seeded)."""
    rng = random.Random(0)
    images = []
    for _ in range(count):
        image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
        draw = ImageDraw.Draw(image)
        for _ in range(6):
            x, y = rng.randrange(size[0] - 100), rng.randrange(size[1] - 100)
            box = [x, y, x + rng.randrange(60, 300), y + rng.randrange(60, 300)]
            draw.ellipse(box, fill=tuple(rng.randrange(256) for _ in range(3)))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=88)
        images.append(out.getvalue())
    return images


def measure(entry: Entry, images: list[bytes], folder: Path) -> tuple[float, float]:
    """(items/s one at a time, items/s in batches of ``entry.batch``), after a warm-up call."""
    entry.build(folder)
    endpoint = InProcessEndpoint(entry.model, REPO / "model_code", str(folder))
    endpoint.invoke(entry.batch_body(images[:2]), "application/json")
    started = time.perf_counter()
    for image in images:
        endpoint.invoke(*entry.one(image))
    single = len(images) / (time.perf_counter() - started)
    started = time.perf_counter()
    for start in range(0, len(images), entry.batch):
        endpoint.invoke(entry.batch_body(images[start : start + entry.batch]), "application/json")
    batched = len(images) / (time.perf_counter() - started)
    return single, batched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64, help="images per run (a multiple of 32 is fairest)")
    parser.add_argument("--model", action="append", choices=[e.model for e in ENTRIES], help="default: all")
    args = parser.parse_args()
    chosen = [e for e in ENTRIES if not args.model or e.model in args.model]
    images = photos(args.images)
    print(f"{len(images)} JPEGs of 800x600; torch on CPU; one process, same images for both runs")
    print(f"{'model':<17} {'weights':<50} {'batch':>5} {'1-by-1 /s':>10} {'batched /s':>11} {'ratio':>6}")
    ratios = {}
    with tempfile.TemporaryDirectory() as scratch:
        for entry in chosen:
            single, batched = measure(entry, images, Path(scratch) / entry.model)
            ratios[entry.model] = batched / single
            print(
                f"{entry.model:<17} {entry.weights:<50} {entry.batch:>5} {single:>10.1f} {batched:>11.1f}"
                f" {ratios[entry.model]:>5.2f}x  ({entry.unit}s)"
            )
    if "dino_embed" in ratios:
        print(f"dino_embed_batch_speedup={ratios['dino_embed']:.2f}")


if __name__ == "__main__":
    main()
