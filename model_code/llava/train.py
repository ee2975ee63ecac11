"""Supervised fine-tuning of LLaVA-NeXT on labelled hotel photos with TRL: a SageMaker training entry point.

The data is a ``datasets`` set in the published chat layout: each row's ``messages`` are a user turn (the photo
and the prompt, which lists the labels) and the assistant's answer ``this is a photo of {label}.``, with the
photo in ``images`` (:mod:`common.datasets`; the older ``labels.jsonl`` is read as well, with ``--question``).
TRL's ``SFTTrainer`` runs the loop (accelerate, checkpoints in ``--checkpoint-dir`` with resume, progress bars,
loss logging); the batches come from :func:`batch_inputs`, so the loss covers the answer tokens only (EOS
included), never the prompt or the image tokens. Chats are rendered with the serving template
(``artifact.CHAT_TEMPLATE``), not the hub's, which closes an answer with the literal text ``<\\s>``: a model
tuned on that writes ``<\\s>`` and never stops. LoRA (``--lora-rank`` 16, ``--lora-alpha`` 32, dropout 0.05)
adapts the language model's ``q_proj``/``v_proj`` (not the vision tower); ``--train-projector`` also trains the
multi-modal projector (a base whose projector has never seen its vision tower needs it). The result is merged
and saved in the files DJL LMI 0.31 reads (``artifact.make_compatible``). Hotels are split into train and
validation groups (``--val-fraction`` or ``--validation``): validation reports label accuracy (whole-label
matching) by generating each held-out photo's answer.

Run as a SageMaker training job (``source_dir=model_code``, ``entry_point=llava/train.py``) or locally.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # model_code/, for `common`

from llava.artifact import CHAT_TEMPLATE, make_compatible

from common.datasets import LabelledPhoto, read_labelled_photos
from common.frozen_tower import frozen_tower_cache
from common.training import (
    History,
    LoraArguments,
    RunArguments,
    add_lora,
    answer_only_inputs,
    base_dtype,
    grouped_split,
    help_field,
    load_rgb,
    parse,
    seed_all,
    write_record,
)

ANSWER_FORMAT = "this is a photo of {label}."
LANGUAGE_LORA_TARGETS = r".*language_model.*\.(q_proj|v_proj)"
"""A regex, because the CLIP vision tower has ``q_proj``/``v_proj`` too and stays as it is."""


@dataclass
class LlavaArguments(RunArguments, LoraArguments):
    """LoRA SFT of LLaVA-NeXT on hotel photo labels (TRL SFTTrainer)."""

    question: str = help_field(
        "What does this hotel photo show?", help="the prompt of rows that carry none (labels.jsonl)"
    )
    lora_rank: int = help_field(16, help="LoRA rank r")
    train_projector: bool = help_field(False, help="also train the multi-modal projector")
    train_modules: str = help_field(
        "",
        help="regex of parameter names trained in full beside the adapter (e.g. 'lm_head|norm' for a base "
        "whose output head was never trained; default none)",
    )
    lora_targets: str = help_field(
        LANGUAGE_LORA_TARGETS,
        help="regex of the modules LoRA adapts (default: the language model's q_proj and v_proj; the vision "
        "tower's stay as they are)",
    )
    steps: int = help_field(300, help="optimiser steps")
    batch_size: int = help_field(4, help="chats per step")
    lr: float = help_field(2e-4, help="peak learning rate")
    balance: float = help_field(
        0.0,
        help="label balance of the batches: each photo is drawn with weight (photos of its label)^-balance "
        "(0: as the data has them; 1: every label equally often)",
    )
    val_fraction: float = help_field(0.0, help="share of hotels held out for validation (default none)")
    max_new_tokens: int = help_field(16, help="validation: tokens generated per answer")


def read_examples(folder: Path) -> list[tuple[Path, str]]:
    """(image path, label) pairs of ``folder``'s ``messages.jsonl`` or ``labels.jsonl``."""
    return [(photo.image, photo.label) for photo in read_labelled_photos(folder)]


def _conversation(question: str, label: str | None) -> list[dict[str, Any]]:
    chat = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    if label is not None:
        chat.append(
            {"role": "assistant", "content": [{"type": "text", "text": ANSWER_FORMAT.format(label=label)}]}
        )
    return chat


def use_serving_template(processor: Any) -> Any:
    """``processor`` with :data:`CHAT_TEMPLATE` (the one the endpoints render with) on it and its tokenizer."""
    processor.chat_template = CHAT_TEMPLATE
    processor.tokenizer.chat_template = CHAT_TEMPLATE
    return processor


def batch_inputs(
    processor: Any, examples: Sequence[tuple[Path, str]], question: str | Sequence[str]
) -> dict[str, Any]:
    """Model inputs with ``labels``: -100 on the prompt (image tokens included) and on padding; the answer's
    tokens end with EOS when ``processor`` carries the serving template (:func:`use_serving_template`).
    ``question``: one prompt for every example, or one each."""
    questions = [question] * len(examples) if isinstance(question, str) else list(question)
    images = [load_rgb(path) for path, _ in examples]
    template = processor.apply_chat_template
    prompts = [template(_conversation(q, None), add_generation_prompt=True) for q in questions]
    full = [template(_conversation(q, label)) for q, (_, label) in zip(questions, examples, strict=True)]
    return answer_only_inputs(processor, images, prompts, full)


def to_dataset(photos: Sequence[LabelledPhoto], question: str) -> Any:
    """The photos as a ``datasets.Dataset`` in the chat ``messages`` layout (image paths in ``images``)."""
    from datasets import Dataset

    rows = {"messages": [], "images": [], "label": []}
    for photo in photos:
        prompt = photo.prompt or question
        rows["messages"].append(json.dumps(_conversation(prompt, photo.label)))
        rows["images"].append([str(photo.image)])
        rows["label"].append(photo.label)
    return Dataset.from_dict(rows)


def collator(processor: Any) -> Any:
    """Dataset rows → one padded batch with answer-only labels (:func:`batch_inputs`), as TRL's
    ``data_collator``. Each example's inputs are computed once and kept: the image processing (LLaVA-NeXT's
    any-resolution tiles) costs more than a tiny model's step, and it gives the same tensors every time."""
    import torch

    cache: dict[tuple[str, str, str], dict[str, Any]] = {}

    def one(row: dict[str, Any]) -> dict[str, Any]:
        chat = json.loads(row["messages"])
        text = next(c["text"] for c in chat[0]["content"] if c.get("type") == "text")
        key = (row["images"][0], text, row["label"])
        if key not in cache:
            inputs = batch_inputs(processor, [(Path(row["images"][0]), row["label"])], [text])
            cache[key] = {name: value[0] for name, value in inputs.items()}
        return cache[key]

    def collate(rows: list[dict[str, Any]]) -> dict[str, Any]:
        items = [one(row) for row in rows]
        length = max(len(item["input_ids"]) for item in items)
        pad = processor.tokenizer.pad_token_id

        def padded(name: str, value: int) -> Any:
            return torch.stack(
                [
                    torch.nn.functional.pad(item[name], (0, length - len(item[name])), value=value)
                    for item in items
                ]
            )

        batch = {
            "input_ids": padded("input_ids", pad),
            "attention_mask": padded("attention_mask", 0),
            "labels": padded("labels", -100),
        }
        if "pixel_values" in items[0]:
            tiles = max(item["pixel_values"].shape[0] for item in items)
            batch["pixel_values"] = torch.stack(
                [
                    torch.cat(
                        [
                            item["pixel_values"],
                            item["pixel_values"].new_zeros(
                                tiles - item["pixel_values"].shape[0], *item["pixel_values"].shape[1:]
                            ),
                        ]
                    )
                    for item in items
                ]
            )
        if "image_sizes" in items[0]:
            batch["image_sizes"] = torch.stack([item["image_sizes"] for item in items])
        return batch

    return collate


def label_weights(labels: Sequence[str], balance: float) -> list[float]:
    """Each row's draw weight for ``--balance``: ``count(label) ** -balance``, scaled to average 1."""
    counts = Counter(labels)
    weights = [counts[label] ** -balance for label in labels]
    mean = sum(weights) / len(weights)
    return [w / mean for w in weights]


def answer(
    model: Any, processor: Any, photos: Sequence[LabelledPhoto], question: str, max_new_tokens: int
) -> list[str]:
    """Greedy answers to each photo's prompt, as the handler generates them."""
    import torch

    from common.runtime import to_model

    processor.tokenizer.padding_side = "left"
    out = []
    for start in range(0, len(photos), 8):
        chunk = photos[start : start + 8]
        prompts = [
            processor.apply_chat_template(
                _conversation(p.prompt or question, None), add_generation_prompt=True
            )
            for p in chunk
        ]
        inputs = processor(
            images=[load_rgb(p.image) for p in chunk], text=prompts, padding=True, return_tensors="pt"
        )
        with torch.inference_mode():
            generated = model.generate(
                **to_model(inputs, model), max_new_tokens=max_new_tokens, do_sample=False
            )
        out += processor.batch_decode(generated[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    processor.tokenizer.padding_side = "right"
    return out


def label_validation(
    model: Any, processor: Any, photos: Sequence[LabelledPhoto], args: LlavaArguments
) -> dict[str, float]:
    from common.evaluation import label_scores, match_label

    labels = sorted({p.label for p in photos})
    answers = answer(model, processor, photos, args.question, args.max_new_tokens)
    return label_scores(
        [(p.label, match_label(a, labels)) for p, a in zip(photos, answers, strict=True)], labels
    ).figures()


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Fine-tune with TRL, merge, save; return the summary (first and last loss, validation)."""
    from transformers import AutoProcessor, LlavaNextForConditionalGeneration, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    args = parse(LlavaArguments, argv)
    args.require("train", "model_dir", "base_model")
    seed_all(args.seed)
    photos = read_labelled_photos(args.train)
    if args.validation:
        val = read_labelled_photos(args.validation)
    else:
        held = grouped_split([p.group for p in photos], args.val_fraction, args.seed)
        val = [p for p in photos if p.group in held]
        photos = [p for p in photos if p.group not in held]
    processor = use_serving_template(AutoProcessor.from_pretrained(args.base_model))
    base = LlavaNextForConditionalGeneration.from_pretrained(
        args.base_model, dtype=base_dtype(args.base_dtype)
    )
    model = add_lora(
        base, args.lora_targets, rank=args.lora_rank, alpha=args.lora_alpha, dropout=args.lora_dropout
    )
    full = re.compile(args.train_modules) if args.train_modules else None
    for name, parameter in model.named_parameters():
        if (args.train_projector and "multi_modal_projector" in name) or (full and full.search(name)):
            parameter.requires_grad_(True)
    from common.runtime import device

    history = History()

    class Record(TrainerCallback):
        def on_log(
            self, _args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **_: Any
        ) -> None:
            if logs and "loss" in logs:
                history.losses.append(float(logs["loss"]))
                print(f"step={state.global_step} loss={logs['loss']:.4f}", flush=True)

    checkpoints = args.checkpoints or args.model_dir / "checkpoints"
    config = SFTConfig(
        output_dir=str(checkpoints),
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr,
        weight_decay=args.weight_decay,
        warmup_steps=args.warmup_steps,
        lr_scheduler_type="cosine" if args.warmup_steps else "constant",
        max_grad_norm=args.max_grad_norm or 0.0,
        logging_steps=1,
        save_strategy="steps" if args.checkpoint_every else "no",
        save_steps=args.checkpoint_every or 500,
        save_total_limit=1,
        seed=args.seed,
        data_seed=args.seed,
        report_to="none",
        remove_unused_columns=False,
        dataset_kwargs={"skip_prepare_dataset": True},
        disable_tqdm=not args.progress,
        use_cpu=device().type == "cpu",
        bf16=args.mixed_precision == "bf16",
        fp16=args.mixed_precision == "fp16",
        dataloader_num_workers=0,
    )

    class Trainer(SFTTrainer):
        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            dataset = self.train_dataset if train_dataset is None else train_dataset
            if not args.balance or dataset is None:
                return super()._get_train_sampler(train_dataset)
            import torch

            generator = torch.Generator().manual_seed(args.seed)
            weights = label_weights(dataset["label"], args.balance)
            return torch.utils.data.WeightedRandomSampler(weights, len(weights), generator=generator)

    trainer = Trainer(
        model=model,
        args=config,
        train_dataset=to_dataset(photos, args.question),
        data_collator=collator(processor),
        processing_class=processor,
        callbacks=[Record()],
    )
    resume = None
    if (
        args.resume
        and checkpoints.is_dir()
        and any(p.name.startswith("checkpoint-") for p in checkpoints.iterdir())
    ):
        resume = True
    started = time.perf_counter()
    with frozen_tower_cache(base.model, "vision_tower"):
        trainer.train(resume_from_checkpoint=resume)
    history.seconds = time.perf_counter() - started
    model = trainer.model.eval()
    if val:
        history.evals.append({"step": args.steps, **label_validation(model, processor, val, args)})
        print(
            "validation " + " ".join(f"{k}={v}" for k, v in history.evals[-1].items() if k != "step"),
            flush=True,
        )
    merged = model.merge_and_unload().eval()
    merged.save_pretrained(args.model_dir)
    processor.tokenizer.padding_side = "left"  # serving generates in left-padded batches
    processor.save_pretrained(args.model_dir)
    make_compatible(args.model_dir)
    return write_record(
        args.model_dir,
        history,
        args,
        title="llava SFT (TRL, LoRA, answer-only loss)",
        output_data_dir=args.output_data_dir,
        lora_rank=args.lora_rank,
        lora_alpha=args.lora_alpha,
        photos=len(photos),
        validation_photos=len(val),
    )


if __name__ == "__main__":
    main()
