"""LoRA fine-tuning of BLIP-2 on product attribute questions: a SageMaker training entry point.

Data (``--train``, default ``$SM_CHANNEL_TRAINING``): ``qa.jsonl`` with ``{"image": "rel/path.jpg",
"question": "What is the fabric of the shirt?", "answer": "cotton"}`` a line, paths relative to that folder.
Prompts use the handler's ``Question: ... Answer:`` format. LoRA follows the published BLIP-2 recipe: rank 8,
alpha 32 (``--lora-rank``, ``--lora-alpha``), dropout 0.05, on the language model's attention queries and values
(T5: ``q``/``v``; OPT and Llama: ``q_proj``/``v_proj``), chosen from the base model's config. The base weights
load in float32 (``--base-dtype``), whatever dtype the checkpoint was saved in.

Output (``--model-dir``, default ``$SM_MODEL_DIR``): the base weights, the processor and the adapter in
``adapter/`` (``inference.py`` merges it at load), or with ``--merge`` the merged weights only.
Base weights: ``--base-model`` (default ``$SM_CHANNEL_MODEL``, or a hub id).

Run as a SageMaker training job (``source_dir=model_code``, ``entry_point=blip2_attributes/train.py``: it imports
``common``) or locally.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # model_code/, for `common` and the handler

from blip2_attributes.inference import QUESTION_FORMAT

from common.runtime import to_model
from common.training import (
    add_lora,
    add_lora_arguments,
    answer_only_inputs,
    base_dtype,
    load_rgb,
    sampled_parser,
    seed_all,
    to_training_device,
    train_sampled,
    write_summary,
)

LORA_TARGETS = {"t5": ["q", "v"], "opt": ["q_proj", "v_proj"], "llama": ["q_proj", "v_proj"]}


def lora_targets(model_type: str) -> list[str]:
    """The attention projections LoRA adapts for a language model type; others are refused by name."""
    if model_type not in LORA_TARGETS:
        raise ValueError(
            f"no LoRA targets for language model {model_type!r}; known: {', '.join(LORA_TARGETS)}"
        )
    return LORA_TARGETS[model_type]


def read_examples(folder: Path) -> list[dict[str, Any]]:
    """Rows of ``folder/qa.jsonl`` with the image path resolved; a malformed line stops with its number."""
    rows = []
    for number, line in enumerate((folder / "qa.jsonl").read_text().splitlines(), start=1):
        if line.strip():
            row = json.loads(line)
            if not all(isinstance(row.get(key), str) for key in ("image", "question", "answer")):
                raise ValueError(f"qa.jsonl line {number}: needs 'image', 'question' and 'answer' strings")
            rows.append(row | {"image": folder / row["image"]})
    if not rows:
        raise ValueError(f"no examples in {folder / 'qa.jsonl'}")
    return rows


def batch_inputs(processor: Any, rows: list[dict[str, Any]], decoder_only: bool) -> dict[str, Any]:
    """Inputs and ``labels`` (the answer tokens; -100 elsewhere) for T5- or OPT-style BLIP-2."""
    images = [load_rgb(row["image"]) for row in rows]
    prompts = [QUESTION_FORMAT.format(question=row["question"]) for row in rows]
    if decoder_only:
        full = [f"{prompt} {row['answer']}" for prompt, row in zip(prompts, rows, strict=True)]
        return answer_only_inputs(processor, images, prompts, full)
    inputs = processor(images=images, text=prompts, padding=True, return_tensors="pt")
    labels = processor.tokenizer([row["answer"] for row in rows], padding=True, return_tensors="pt")
    inputs["labels"] = labels["input_ids"].masked_fill(labels["attention_mask"] == 0, -100)
    return inputs


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = sampled_parser(__doc__.split("\n\n")[0], steps=300, batch_size=8, lr=1e-4)
    add_lora_arguments(parser, rank=8, alpha=32)
    parser.add_argument("--merge", action="store_true", help="save merged weights instead of base + adapter/")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> float:
    """Fine-tune and save; return the last step's loss."""
    from transformers import Blip2ForConditionalGeneration, Blip2Processor

    args = parse_args(argv)
    seed_all(args.seed)
    rows = read_examples(args.train)
    processor = Blip2Processor.from_pretrained(args.base_model)
    base = Blip2ForConditionalGeneration.from_pretrained(args.base_model, dtype=base_dtype(args.base_dtype))
    if getattr(processor, "num_query_tokens", None) is None:  # as the handler does: else no image tokens
        processor.num_query_tokens = base.config.num_query_tokens
    decoder_only = base.config.use_decoder_only_language_model
    if not args.merge:
        base.save_pretrained(args.model_dir)  # untouched base weights: the adapter is applied on top at load
    targets = lora_targets(base.config.text_config.model_type)
    model = to_training_device(
        add_lora(base, targets, rank=args.lora_rank, alpha=args.lora_alpha, dropout=args.lora_dropout)
    )
    losses = train_sampled(
        model,
        rows,
        lambda batch: model(**to_model(batch_inputs(processor, batch, decoder_only), model)).loss,
        args,
    )
    if args.merge:
        model.merge_and_unload().save_pretrained(args.model_dir)
    else:
        model.save_pretrained(args.model_dir / "adapter")
    processor.tokenizer.padding_side = "left" if decoder_only else "right"
    processor.save_pretrained(args.model_dir)
    last = losses[-1] if losses else float("nan")
    summary = {"steps": len(losses), "first_loss": losses[0] if losses else last, "last_loss": last}
    write_summary(args.model_dir, summary | {"lora_rank": args.lora_rank, "lora_alpha": args.lora_alpha})
    return last


if __name__ == "__main__":
    main()
