"""LoRA supervised fine-tuning of LLaVA-NeXT for hotel photo labels: a SageMaker training entry point.

Each example becomes one chat: the user sends the photo and ``--question``; the assistant answers
``this is a photo of {label}``, closed by the EOS token. Chats are rendered with the serving template
(``artifact.CHAT_TEMPLATE``), not the hub's, which closes an answer with the literal text ``<\\s>``: a model tuned on
that writes ``<\\s>`` and never stops. The loss covers the answer tokens (EOS included) only. LoRA (``--lora-rank``
16, ``--lora-alpha`` 32, dropout 0.05) adapts the language model's ``q_proj``/``v_proj`` (not the vision tower);
the result is merged into the weights and saved with the processor, in the files DJL LMI 0.31's transformers 4.45
reads (``artifact.make_compatible``), because the DJL/vLLM endpoint and ``inference.py`` both load plain merged
weights. ``training_summary.json`` beside them records the steps and the first and last loss.

Data (``--train``, default ``$SM_CHANNEL_TRAINING``): ``labels.jsonl`` with ``{"image": "rel/path.jpg",
"label": "pool"}`` a line, paths relative to that folder. Base weights: ``--base-model`` (default
``$SM_CHANNEL_MODEL``, or a hub id). Output: ``--model-dir`` (default ``$SM_MODEL_DIR``).

Run as a SageMaker training job (``source_dir=model_code``, ``entry_point=llava/train.py``: it imports
``common``) or locally.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # model_code/, for `common`

from llava.artifact import CHAT_TEMPLATE, make_compatible

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

ANSWER_FORMAT = "this is a photo of {label}"
LANGUAGE_LORA_TARGETS = r".*language_model.*\.(q_proj|v_proj)"
"""A regex, because the CLIP vision tower has ``q_proj``/``v_proj`` too and stays as it is."""


def read_examples(folder: Path) -> list[tuple[Path, str]]:
    """(image path, label) pairs from ``folder/labels.jsonl``; a malformed line stops training with its number."""
    examples = []
    for number, line in enumerate((folder / "labels.jsonl").read_text().splitlines(), start=1):
        if line.strip():
            row = json.loads(line)
            if not isinstance(row.get("image"), str) or not isinstance(row.get("label"), str):
                raise ValueError(f"labels.jsonl line {number}: needs 'image' and 'label' strings")
            examples.append((folder / row["image"], row["label"]))
    if not examples:
        raise ValueError(f"no examples in {folder / 'labels.jsonl'}")
    return examples


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


def batch_inputs(processor: Any, examples: list[tuple[Path, str]], question: str) -> dict[str, Any]:
    """Model inputs with ``labels``: -100 on the prompt (image tokens included) and on padding; the answer's
    tokens end with EOS when ``processor`` carries the serving template (:func:`use_serving_template`)."""
    images = [load_rgb(path) for path, _ in examples]
    template = processor.apply_chat_template
    prompts = [template(_conversation(question, None), add_generation_prompt=True) for _ in examples]
    full = [template(_conversation(question, label)) for _, label in examples]
    return answer_only_inputs(processor, images, prompts, full)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = sampled_parser(__doc__.split("\n\n")[0], steps=300, batch_size=4, lr=2e-4)
    parser.add_argument("--question", default="What does this hotel photo show?")
    add_lora_arguments(parser, rank=16, alpha=32)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> float:
    """Fine-tune, merge, save; return the last step's loss."""
    from transformers import AutoProcessor, LlavaNextForConditionalGeneration

    args = parse_args(argv)
    seed_all(args.seed)
    examples = read_examples(args.train)
    processor = use_serving_template(AutoProcessor.from_pretrained(args.base_model))
    base = LlavaNextForConditionalGeneration.from_pretrained(
        args.base_model, dtype=base_dtype(args.base_dtype)
    )
    lora = add_lora(
        base, LANGUAGE_LORA_TARGETS, rank=args.lora_rank, alpha=args.lora_alpha, dropout=args.lora_dropout
    )
    model = to_training_device(lora)
    losses = train_sampled(
        model,
        examples,
        lambda batch: model(**to_model(batch_inputs(processor, batch, args.question), model)).loss,
        args,
    )
    merged = model.merge_and_unload().eval()
    merged.save_pretrained(args.model_dir)
    processor.tokenizer.padding_side = "left"  # serving generates in left-padded batches
    processor.save_pretrained(args.model_dir)
    make_compatible(args.model_dir)
    last = losses[-1] if losses else float("nan")
    summary = {"steps": len(losses), "first_loss": losses[0] if losses else last, "last_loss": last}
    write_summary(args.model_dir, summary | {"lora_rank": args.lora_rank, "lora_alpha": args.lora_alpha})
    return last


if __name__ == "__main__":
    main()
