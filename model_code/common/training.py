"""What every ``train.py`` shares: SageMaker-compatible arguments, the data manifest, the loops, the output.

A SageMaker training job passes hyperparameters as ``--name value`` and locations as ``SM_*`` environment
variables; the same script run locally takes the same flags, so one entry point serves both.

Two loop styles live here because the scripts train two ways: the embedder and the detector go through
their data in epochs (:func:`run_epochs`), the VLMs and the ranker take a fixed number of steps on random
samples (:func:`train_sampled`). torch, PIL and peft are imported inside the functions that use them, so
this module costs nothing to import where it ships beside a handler.

Models train on :func:`common.runtime.device`, the device the handlers serve on: a SageMaker training job
on a GPU instance trains on its GPU, a local run on the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import random
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def base_parser(description: str, default_base_model: str) -> argparse.ArgumentParser:
    """Arguments every training script takes; defaults come from the SageMaker environment when present."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model-dir", type=Path, default=Path(os.environ.get("SM_MODEL_DIR", "model")))
    parser.add_argument(
        "--train", type=Path, default=Path(os.environ.get("SM_CHANNEL_TRAINING", "data/train"))
    )
    parser.add_argument(
        "--base-model",
        default=os.environ.get("SM_CHANNEL_MODEL", default_base_model),
        help="from_pretrained folder or hub id to start from (SageMaker: the 'model' input channel)",
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: no limit)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def read_manifest(folder: Path, name: str) -> list[dict[str, Any]]:
    """The JSON-lines manifest ``folder/name``; image paths in it are relative to ``folder``."""
    path = Path(folder) / name
    if not path.is_file():
        raise FileNotFoundError(f"training data has no {name} in {folder}")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        raise ValueError(f"{path} is empty")
    return rows


def write_summary(model_dir: Path, summary: dict[str, Any]) -> None:
    """``training_summary.json`` beside the weights: how they were made travels with them."""
    (Path(model_dir) / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def sampled_parser(
    description: str, *, steps: int, batch_size: int, lr: float, base_model_required: bool = True
) -> argparse.ArgumentParser:
    """The arguments of a script that trains with :func:`train_sampled`, with that script's defaults.

    Locations: ``--train``, ``--model-dir`` and ``--base-model``, each defaulting to its SageMaker variable;
    unlike :func:`base_parser` there is no local fallback folder, so a flag is required when its variable is
    unset (``base_model_required=False`` is for a script that can also start another way: the ranker, from
    two encoders). Loop: ``--steps``, ``--batch-size``, ``--lr`` and ``--seed`` (for :func:`seed_all`).
    """
    env = os.environ.get
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--train", type=Path, default=env("SM_CHANNEL_TRAINING"), required=not env("SM_CHANNEL_TRAINING")
    )
    parser.add_argument(
        "--model-dir", type=Path, default=env("SM_MODEL_DIR"), required=not env("SM_MODEL_DIR")
    )
    parser.add_argument(
        "--base-model",
        default=env("SM_CHANNEL_MODEL"),
        required=base_model_required and not env("SM_CHANNEL_MODEL"),
    )
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--lr", type=float, default=lr)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def seed_all(seed: int) -> None:
    """Seed :mod:`random` (which :func:`train_sampled` draws batches from) and torch (initialisation)."""
    import torch

    random.seed(seed)
    torch.manual_seed(seed)


def load_rgb(path: Path) -> Any:
    """A training image as upright RGB pixels (the EXIF orientation applied, as the handlers do)."""
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        return ImageOps.exif_transpose(image).convert("RGB")


def to_training_device(model: Any) -> Any:
    """``model`` moved to :func:`common.runtime.device`, with torch set up for that device.

    The weights keep the dtype the script loaded them in, which every script names explicitly (transformers 5
    otherwise loads a checkpoint's own dtype, float16 for most hub checkpoints): float32 for what the optimiser
    updates, because AdamW's small updates vanish in 16-bit weights. The handlers choose their own serving
    precision when they load the result.
    """
    from common.runtime import configure_torch, device

    target = device()
    configure_torch(target)
    return model.to(target)


BASE_DTYPES = ("float32", "bfloat16")


def add_lora_arguments(parser: argparse.ArgumentParser, *, rank: int, alpha: int) -> None:
    """``--lora-rank``, ``--lora-alpha``, ``--lora-dropout`` (0.05) and ``--base-dtype`` with a script's defaults.

    ``--base-dtype bfloat16`` halves the frozen base weights' memory (a 7B model in float32 needs a 40 GB GPU);
    the adapters PEFT adds stay in float32 either way, so what the optimiser updates keeps its precision.
    """
    parser.add_argument("--lora-rank", type=int, default=rank)
    parser.add_argument(
        "--lora-alpha", type=int, default=alpha, help=f"LoRA scaling numerator (default {alpha})"
    )
    parser.add_argument("--lora-dropout", type=float, default=0.05)
    parser.add_argument(
        "--base-dtype", choices=BASE_DTYPES, default="float32", help="dtype of the frozen base weights"
    )


def base_dtype(name: str) -> Any:
    """The torch dtype ``--base-dtype`` names."""
    import torch

    if name not in BASE_DTYPES:
        raise ValueError(f"--base-dtype must be one of {', '.join(BASE_DTYPES)}, got {name!r}")
    return getattr(torch, name)


def add_lora(base: Any, targets: list[str] | str, *, rank: int, alpha: int, dropout: float) -> Any:
    """``base`` wrapped in a PEFT LoRA adapter on ``targets`` (module names, or one regex), with every setting
    given by the caller: the published recipes differ (BLIP-2: r 8, alpha 32), so there is no default here."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets)
    return get_peft_model(base, config)


def answer_only_inputs(processor: Any, images: list[Any], prompts: list[str], texts: list[str]) -> Any:
    """Processor inputs for ``texts`` (each prompt followed by its answer) with ``labels`` on the answer only.

    Labels are -100 on padding and on each row's prompt, image tokens included: the prompt's length is what
    the processor makes of that row's image and prompt alone. Padding goes on the right, so the prompt
    lines up from the left in both.
    """
    processor.tokenizer.padding_side = "right"
    inputs = processor(images=images, text=texts, padding=True, return_tensors="pt")
    labels = inputs["input_ids"].masked_fill(inputs["attention_mask"] == 0, -100)
    for row, (prompt, image) in enumerate(zip(prompts, images, strict=True)):
        prompt_length = processor(images=[image], text=[prompt], return_tensors="pt")["input_ids"].shape[1]
        labels[row, :prompt_length] = -100
    inputs["labels"] = labels
    return inputs


def train_sampled(
    model: Any,
    examples: Sequence[T],
    loss_of: Callable[[list[T]], Any],
    args: argparse.Namespace,
    *,
    log_every: int = 25,
) -> list[float]:
    """``args.steps`` AdamW steps at ``args.lr`` on ``model``'s trainable parameters, each on a random sample
    of ``args.batch_size`` examples (``args`` as :func:`sampled_parser` parses them).

    Samples come from :mod:`random` (seeded by :func:`seed_all`); the loss is printed every ``log_every``
    steps and at the last. Returns every step's loss, in order.
    """
    import torch

    steps = args.steps
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    model.train()
    losses: list[float] = []
    for step in range(1, steps + 1):
        loss = loss_of(random.sample(examples, min(args.batch_size, len(examples))))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % log_every == 0 or step == steps:
            print(f"step={step} loss={losses[-1]:.4f}", flush=True)
    return losses


def run_epochs(
    model: Any,
    optimizer: Any,
    batches: Callable[[], Iterable[T]],
    loss_of: Callable[[T], Any],
    *,
    epochs: int,
    max_steps: int,
    max_grad_norm: float,
) -> list[float]:
    """Up to ``epochs`` passes over ``batches()`` (called once per epoch, so it can reshuffle); the losses.

    Gradients are clipped to ``max_grad_norm``; training stops after ``max_steps`` steps (0: no limit).
    """
    import torch

    losses: list[float] = []
    for _epoch in range(epochs):
        for batch in batches():
            loss = loss_of(batch)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            losses.append(loss.item())
            print(f"step {len(losses)} loss {losses[-1]:.4f}", flush=True)
            if len(losses) == max_steps:
                return losses
    return losses


def save_finetuned(
    model_dir: Path, model: Any, processor: Any, losses: list[float], **details: Any
) -> dict[str, Any]:
    """Save weights and processor for ``model_fn``, and the summary (step count, first and last loss,
    ``details``) beside them; returns the summary."""
    summary = {"steps": len(losses), "first_loss": losses[0], "last_loss": losses[-1], **details}
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    model.eval().save_pretrained(model_dir)
    processor.save_pretrained(model_dir)
    write_summary(model_dir, summary)
    return summary
