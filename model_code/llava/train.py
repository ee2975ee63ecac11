"""LoRA supervised fine-tuning of LLaVA-NeXT for hotel photo labels: a SageMaker training entry point.

Each example becomes one chat: the user sends the photo and ``--question``; the assistant answers
``this is a photo of {label}``. The loss covers the answer tokens only. LoRA adapts the language model's
``q_proj``/``v_proj`` (not the vision tower); the result is merged into the weights and saved with the
processor, because the DJL/vLLM endpoint and ``inference.py`` both load plain merged weights.

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

from common.runtime import to_model
from common.training import (
    add_lora,
    answer_only_inputs,
    load_rgb,
    sampled_parser,
    seed_all,
    to_training_device,
    train_sampled,
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


def batch_inputs(processor: Any, examples: list[tuple[Path, str]], question: str) -> dict[str, Any]:
    """Model inputs with ``labels``: -100 on the prompt (image tokens included) and on padding."""
    images = [load_rgb(path) for path, _ in examples]
    template = processor.apply_chat_template
    prompts = [template(_conversation(question, None), add_generation_prompt=True) for _ in examples]
    full = [template(_conversation(question, label)) for _, label in examples]
    return answer_only_inputs(processor, images, prompts, full)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = sampled_parser(__doc__.split("\n\n")[0], steps=300, batch_size=4, lr=2e-4)
    parser.add_argument("--question", default="What does this hotel photo show?")
    parser.add_argument("--lora-rank", type=int, default=16)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> float:
    """Fine-tune, merge, save; return the last step's loss."""
    from transformers import AutoProcessor, LlavaNextForConditionalGeneration

    args = parse_args(argv)
    seed_all(args.seed)
    examples = read_examples(args.train)
    processor = AutoProcessor.from_pretrained(args.base_model)
    base = LlavaNextForConditionalGeneration.from_pretrained(args.base_model)
    model = to_training_device(add_lora(base, args.lora_rank, LANGUAGE_LORA_TARGETS))
    loss = train_sampled(
        model,
        examples,
        lambda batch: model(**to_model(batch_inputs(processor, batch, args.question), model)).loss,
        args,
    )
    merged = model.merge_and_unload().eval()
    merged.save_pretrained(args.model_dir)
    processor.tokenizer.padding_side = "left"  # serving generates in left-padded batches
    processor.save_pretrained(args.model_dir)
    return float(loss.item())


if __name__ == "__main__":
    main()
