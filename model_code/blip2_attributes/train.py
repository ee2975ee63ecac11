"""LoRA fine-tuning of BLIP-2 on product attribute questions: a SageMaker training entry point.

Data (``--train``): ``styles.csv`` + images (one product photo a row, a column per attribute; :mod:`common.datasets`
asks each attribute with the attribute schemas' question), or ``qa.jsonl`` (``{"image", "question", "answer"}``).
Prompts use the handler's ``Question: ... Answer:`` format; the loss is on the answer. LoRA follows the
published BLIP-2 recipe: rank 8, alpha 32 (``--lora-rank``, ``--lora-alpha``), dropout 0.05, on the language
model's attention queries and values (T5: ``q``/``v``; OPT and Llama: ``q_proj``/``v_proj``), chosen from the base
model's config; ``--train-qformer`` also trains the Q-Former and its projection (a base whose Q-Former never saw
products needs it). The base weights load in float32 (``--base-dtype``). Products are split into train and
validation groups (``--val-fraction`` or ``--validation``): validation reports attribute accuracy.

``--stage vision`` runs first where the base's image encoder never learned product attributes: it trains the
vision tower alone on the attribute values and saves the whole base for the LoRA run
(:mod:`blip2_attributes.vision_stage`).

Output (``--model-dir``): the base weights (with ``--train-qformer``: as trained), the processor and the adapter
in ``adapter/`` (``inference.py`` merges it at load), or with ``--merge`` the merged weights only; and
``metrics.json``, ``loss_curve.png``.

Run as a SageMaker training job (``source_dir=model_code``, ``entry_point=blip2_attributes/train.py``) or locally.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # model_code/, for `common` and the handler

from blip2_attributes.inference import QUESTION_FORMAT

from common.datasets import AttributeQuestion, read_attribute_questions
from common.frozen_tower import frozen_tower_cache
from common.imaging import decode
from common.runtime import input_side, to_model
from common.training import (
    LoraArguments,
    RunArguments,
    add_lora,
    answer_only_inputs,
    base_dtype,
    grouped_split,
    help_field,
    load_rgb,
    parse,
    sample,
    seed_all,
    step_rng,
    to_training_device,
    train_loop,
    write_record,
)

PHOTO_CACHE = 16_384
"""Decoded photos a run keeps: each decoded at the handler's reduced size (about 30 kB at 96 px)."""

LORA_TARGETS = {"t5": ["q", "v"], "opt": ["q_proj", "v_proj"], "llama": ["q_proj", "v_proj"]}


@dataclass
class Blip2Arguments(RunArguments, LoraArguments):
    """LoRA fine-tuning of BLIP-2 on attribute questions."""

    stage: str = help_field(
        "lora",
        help="lora (the published recipe) or vision (teach the base's image encoder the attribute values first "
        "and save the base: for an encoder that never learned them)",
    )
    min_crop: float = help_field(
        0.4, help="--stage vision: the least share of a photo's area a training view keeps (1: whole photos)"
    )
    merge: bool = help_field(False, help="save merged weights instead of base + adapter/")
    train_qformer: bool = help_field(
        False, help="also train the Q-Former, its queries and the language projection"
    )
    train_vision: bool = help_field(
        False, help="also train the vision tower (a base that never saw products)"
    )
    train_language_model: bool = help_field(
        False,
        help="also train every language-model weight beside the adapter (a random base has no language to keep)",
    )
    steps: int = help_field(300, help="optimiser steps")
    batch_size: int = help_field(8, help="questions per step")
    lr: float = help_field(1e-4, help="peak learning rate")
    val_fraction: float = help_field(0.0, help="share of products held out for validation (default none)")


def lora_targets(model_type: str) -> list[str]:
    """The attention projections LoRA adapts for a language model type; others are refused by name."""
    if model_type not in LORA_TARGETS:
        raise ValueError(
            f"no LoRA targets for language model {model_type!r}; known: {', '.join(LORA_TARGETS)}"
        )
    return LORA_TARGETS[model_type]


def trained_parts(args: Blip2Arguments) -> tuple[str, ...]:
    """Name parts of the base weights trained beside the adapter (``--train-qformer``, ``--train-vision``,
    ``--train-language-model``)."""
    parts: tuple[str, ...] = ()
    if args.train_qformer:
        parts += ("qformer", "query_tokens", "language_projection")
    if args.train_vision:
        parts += ("vision_model",)
    if args.train_language_model:
        parts += ("language_model",)
    return parts


def read_examples(folder: Path) -> list[dict[str, Any]]:
    """Rows (image path, question, answer, attribute) of ``folder``'s ``styles.csv`` or ``qa.jsonl``."""
    return [
        {"image": q.image, "question": q.question, "answer": q.answer, "attribute": q.attribute}
        for q in read_attribute_questions(folder)
    ]


def batch_inputs(
    processor: Any,
    rows: Sequence[dict[str, Any]],
    decoder_only: bool,
    load: Callable[[Path], Any] = load_rgb,
) -> dict[str, Any]:
    """Inputs and ``labels`` (the answer tokens; -100 elsewhere) for T5- or OPT-style BLIP-2; ``load`` opens
    a photo (a run passes a cached one: a photo is asked several questions)."""
    images = [load(row["image"]) for row in rows]
    prompts = [QUESTION_FORMAT.format(question=row["question"]) for row in rows]
    if decoder_only:
        full = [f"{prompt} {row['answer']}" for prompt, row in zip(prompts, rows, strict=True)]
        return answer_only_inputs(processor, images, prompts, full)
    inputs = processor(images=images, text=prompts, padding=True, return_tensors="pt")
    tokenizer = processor.tokenizer
    answers = [row["answer"] for row in rows]
    probe = tokenizer("x")["input_ids"]
    if tokenizer.eos_token and not (probe and probe[-1] == tokenizer.eos_token_id):
        answers = [f"{answer} {tokenizer.eos_token}" for answer in answers]  # the model must learn to stop
    labels = tokenizer(answers, padding=True, return_tensors="pt")
    inputs["labels"] = labels["input_ids"].masked_fill(labels["attention_mask"] == 0, -100)
    return inputs


def photo_loader(processor: Any) -> Callable[[Path], Any]:
    """Open a training photo as the handler does (a JPEG decoded at reduced size for the model's input),
    each photo once per run: a photo is asked several questions, and opening and processing the photos took
    a quarter of a step (28 of 98 ms, tokenising included)."""
    side = input_side(processor.image_processor, 224)

    @functools.lru_cache(maxsize=PHOTO_CACHE)
    def photo(path: Path) -> Any:
        return decode(Path(path).read_bytes(), target=side)

    return photo


def parse_args(argv: Sequence[str] | None = None) -> Blip2Arguments:
    return parse(Blip2Arguments, argv)


def answers(
    model: Any,
    processor: Any,
    questions: Sequence[AttributeQuestion | dict[str, Any]],
    max_new_tokens: int = 8,
    load: Callable[[Path], Any] = load_rgb,
) -> list[str]:
    """Greedy answers, the prompts in the handler's format; ``load`` opens a photo."""
    import torch

    out = []
    rows = [q if isinstance(q, dict) else {"image": q.image, "question": q.question} for q in questions]
    for start in range(0, len(rows), 16):
        chunk = rows[start : start + 16]
        inputs = processor(
            images=[load(r["image"]) for r in chunk],
            text=[QUESTION_FORMAT.format(question=r["question"]) for r in chunk],
            padding=True,
            return_tensors="pt",
        )
        with torch.inference_mode():
            generated = model.generate(
                **to_model(inputs, model), max_new_tokens=max_new_tokens, do_sample=False
            )
        if model.config.use_decoder_only_language_model:
            generated = generated[:, inputs["input_ids"].shape[1] :]
        out += [a.strip() for a in processor.batch_decode(generated, skip_special_tokens=True)]
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Fine-tune and save; return the summary (first and last loss, validation)."""
    from transformers import Blip2ForConditionalGeneration, Blip2Processor

    from common.evaluation import attribute_scores

    args = parse_args(argv)
    args.require("train", "model_dir", "base_model")
    if args.stage not in ("lora", "vision"):
        raise SystemExit(f"--stage must be lora or vision, not {args.stage!r}")
    seed_all(args.seed)
    rows = read_examples(args.train)
    if args.validation:
        val = read_examples(args.validation)
    else:
        held = grouped_split([str(r["image"]) for r in rows], args.val_fraction, args.seed)
        val = [r for r in rows if str(r["image"]) in held]
        rows = [r for r in rows if str(r["image"]) not in held]
    processor = Blip2Processor.from_pretrained(args.base_model)
    base = Blip2ForConditionalGeneration.from_pretrained(args.base_model, dtype=base_dtype(args.base_dtype))
    if getattr(processor, "num_query_tokens", None) is None:  # as the handler does: else no image tokens
        processor.num_query_tokens = base.config.num_query_tokens
    if args.stage == "vision":
        return _vision_stage(args, base, processor, rows, val)
    decoder_only = base.config.use_decoder_only_language_model
    targets = lora_targets(base.config.text_config.model_type)
    model = add_lora(base, targets, rank=args.lora_rank, alpha=args.lora_alpha, dropout=args.lora_dropout)
    for name, parameter in model.named_parameters():
        if "lora_" not in name and any(part in name for part in trained_parts(args)):
            parameter.requires_grad_(True)
    model = to_training_device(model)

    def batch_at(step: int) -> list[dict[str, Any]]:
        return sample(rows, args.batch_size, step_rng(args.seed, step))

    photo = photo_loader(processor)

    def loss_of(batch: list[dict[str, Any]]) -> Any:
        return model(**to_model(batch_inputs(processor, batch, decoder_only, photo), model)).loss

    def validate() -> dict[str, float]:
        said = answers(model, processor, val, load=photo)
        scores = attribute_scores((r["attribute"], r["answer"], a) for r, a in zip(val, said, strict=True))
        return {k: v for k, v in scores.items() if isinstance(v, float)}

    with frozen_tower_cache(base, "vision_model") as tower:
        history = train_loop(
            model, batch_at, loss_of, args, evaluate=validate if val else None, desc="blip2_attributes"
        )
    if tower is not None:
        print(f"image tower ran once for each of {tower.computed} photos (frozen)", flush=True)
    args.model_dir.mkdir(parents=True, exist_ok=True)
    if args.merge:
        model.merge_and_unload().save_pretrained(args.model_dir)
    else:
        model.save_pretrained(args.model_dir / "adapter")
        _save_base(model, args.model_dir)
    processor.tokenizer.padding_side = "left" if decoder_only else "right"
    processor.save_pretrained(args.model_dir)
    return write_record(
        args.model_dir,
        history,
        args,
        title="blip2_attributes LoRA",
        output_data_dir=args.output_data_dir,
        lora_rank=args.lora_rank,
        lora_alpha=args.lora_alpha,
        questions=len(rows),
        validation_questions=len(val),
    )


def _vision_stage(
    args: Blip2Arguments, base: Any, processor: Any, rows: list[dict[str, Any]], val: list[dict[str, Any]]
) -> dict[str, Any]:
    """Train the vision tower, save the base with it (and the processor), return the summary."""
    from blip2_attributes.vision_stage import train_vision

    history, details = train_vision(
        to_training_device(base), processor, rows, val, args, min_crop=args.min_crop
    )
    args.model_dir.mkdir(parents=True, exist_ok=True)
    base.save_pretrained(args.model_dir)
    processor.save_pretrained(args.model_dir)
    return write_record(
        args.model_dir,
        history,
        args,
        title="blip2_attributes vision",
        output_data_dir=args.output_data_dir,
        stage="vision",
        **details,
    )


def _save_base(model: Any, folder: Path) -> None:
    """The base weights without the LoRA layers (what ``inference.model_fn`` loads before merging ``adapter/``),
    with whatever else training changed (``--train-qformer``): PEFT's ``unload`` on a copy."""
    import copy

    plain = copy.deepcopy(model).unload()
    plain.save_pretrained(folder)


if __name__ == "__main__":
    main()
