"""What every ``train.py`` shares: arguments as dataclasses, the loop, checkpoints, the record of a run.

A SageMaker training job passes hyperparameters as ``--name value`` and locations as ``SM_*`` environment
variables; the same script run locally takes the same flags, so one entry point serves both. Arguments are
dataclasses parsed by transformers' ``HfArgumentParser`` (``--help`` prints every field's help text; both
``--batch-size`` and ``--batch_size`` work, as SageMaker passes hyperparameter names as they were given).

:func:`train_loop` is the loop the embedder, detector, ranker and BLIP-2 scripts share (LLaVA trains through
TRL's ``SFTTrainer``, which has its own): ``accelerate`` places the model and runs distributed when launched
so; every step's batch is a function of (seed, step), so a run resumed from a checkpoint continues with the
batches it would have seen; a checkpoint (``accelerate``'s ``save_state`` + the loss history) is written every
``--checkpoint-every`` steps and picked up again by the next run over the same ``--checkpoint-dir``; a
progress bar shows on a terminal and ``step=N loss=X`` lines go to the log (SageMaker's metric definitions
parse them). :func:`write_record` writes ``metrics.json`` and ``loss_curve.png`` beside the weights.

torch, PIL, peft, accelerate and matplotlib are imported inside the functions that use them, so this module
costs nothing to import where it ships beside a handler.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
A = TypeVar("A")

CHECKPOINT_PREFIX = "step-"
STATE_FILE = "loop_state.json"
RECORD_FILE = "metrics.json"
CURVE_FILE = "loss_curve.png"
SUMMARY_FILE = "training_summary.json"


# --- arguments ----------------------------------------------------------------------------------------


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def _env_path(name: str) -> Path | None:
    value = _env(name)
    return Path(value) if value else None


def help_field(default: Any = None, help: str = "", **kwargs: Any) -> Any:
    """A dataclass field with ``--help`` text (``default_factory=`` for values read from the environment)."""
    if "default_factory" in kwargs:
        return field(default_factory=kwargs.pop("default_factory"), metadata={"help": help, **kwargs})
    return field(default=default, metadata={"help": help, **kwargs})


@dataclass
class RunArguments:
    """Locations and loop settings every script takes; each location defaults to its SageMaker variable."""

    train: Path | None = field(
        default_factory=lambda: _env_path("SM_CHANNEL_TRAINING"),
        metadata={"help": "training data folder (SageMaker: the 'training' channel, $SM_CHANNEL_TRAINING)"},
    )
    validation: Path | None = field(
        default_factory=lambda: _env_path("SM_CHANNEL_VALIDATION"),
        metadata={"help": "held-out data in the same format (default: a grouped split of --train)"},
    )
    model_dir: Path | None = field(
        default_factory=lambda: _env_path("SM_MODEL_DIR"),
        metadata={"help": "where the trained weights go ($SM_MODEL_DIR: uploaded as model.tar.gz)"},
    )
    base_model: str | None = field(
        default_factory=lambda: _env("SM_CHANNEL_MODEL"),
        metadata={"help": "from_pretrained folder or hub id to start from (SageMaker: the 'model' channel)"},
    )
    output_data_dir: Path | None = field(
        default_factory=lambda: _env_path("SM_OUTPUT_DATA_DIR"),
        metadata={"help": "a copy of metrics.json and loss_curve.png goes here ($SM_OUTPUT_DATA_DIR)"},
    )
    checkpoint_dir: Path | None = field(
        default=None,
        metadata={
            "help": "checkpoints (default /opt/ml/checkpoints in a SageMaker job, else <model-dir>.checkpoints); "
            "a run finds the latest one there and resumes from it"
        },
    )
    checkpoint_every: int = help_field(0, help="save a checkpoint every N steps (0: never)")
    resume: bool = help_field(True, help="resume from the latest checkpoint in --checkpoint-dir")
    seed: int = help_field(0, help="seeds python, numpy, torch and every batch draw")
    steps: int = help_field(300, help="optimiser steps")
    batch_size: int = help_field(8, help="examples per step (per process when distributed)")
    lr: float = help_field(1e-4, help="peak learning rate (AdamW)")
    weight_decay: float = help_field(0.0, help="AdamW weight decay")
    warmup_steps: int = help_field(0, help="linear warm-up steps, then cosine decay to 0 (0: constant lr)")
    max_grad_norm: float = help_field(1.0, help="gradient clipping (0: none)")
    val_fraction: float = help_field(
        0.1, help="share of groups (products, hotels) held out for validation when --validation is not given"
    )
    eval_every: int = help_field(0, help="validate every N steps (0: at the end only)")
    log_every: int = help_field(25, help="print step=N loss=X every N steps")
    progress: bool = help_field(True, help="show a progress bar (on a terminal)")
    mixed_precision: str = help_field("no", help="accelerate mixed precision: no, fp16 or bf16")
    threads: int = help_field(0, help="torch CPU threads (0: $OMP_NUM_THREADS or every core)")

    def require(self, *names: str) -> None:
        """Stop with the flag's name when a location is neither given nor in the SageMaker environment."""
        missing = [name for name in names if getattr(self, name) in (None, "")]
        if missing:
            flags = ", ".join("--" + name.replace("_", "-") for name in missing)
            raise SystemExit(f"missing {flags} (no SageMaker environment variable gives a default)")

    @property
    def checkpoints(self) -> Path | None:
        """Where checkpoints go, or None when the run keeps none."""
        if self.checkpoint_dir:
            return Path(self.checkpoint_dir)
        if _env("SM_MODEL_DIR") and Path("/opt/ml").is_dir():
            return Path("/opt/ml/checkpoints")
        if self.model_dir:
            return Path(f"{self.model_dir}.checkpoints")
        return None


def parse(cls: type[A], argv: Sequence[str] | None = None) -> A:
    """Parse ``argv`` into the dataclass ``cls`` with ``HfArgumentParser`` (``--help`` lists every field)."""
    from transformers import HfArgumentParser

    parser = HfArgumentParser(cls, description=(cls.__doc__ or "").strip().splitlines()[0])
    (parsed,) = parser.parse_args_into_dataclasses(args=list(argv) if argv is not None else None)
    return parsed


def as_flags(arguments: Any) -> list[str]:
    """The command line that parses back to ``arguments`` (a dataclass): what a record says was run."""
    flags: list[str] = []
    for item in fields(arguments):
        value = getattr(arguments, item.name)
        if value is None:
            continue
        flags += [f"--{item.name.replace('_', '-')}", str(value)]
    return flags


# --- seeds and splits ---------------------------------------------------------------------------------


def seed_all(seed: int) -> None:
    """Seed :mod:`random`, numpy and torch (initialisation, dropout)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def step_rng(seed: int, step: int, stream: int = 0) -> Any:
    """The random generator of one step's batch: a function of (seed, step), so a resumed run continues
    exactly where the interrupted one would have."""
    import numpy as np

    return np.random.default_rng([seed, stream, step])


def grouped_split(groups: Sequence[str], fraction: float, seed: int = 0) -> set[str]:
    """The groups (product codes, hotel ids) held out for validation: a stable ``fraction`` chosen by hash,
    so every example of a group lands on the same side and the split does not move when data is added."""
    unique = sorted(set(groups))
    if fraction <= 0 or len(unique) < 2:
        return set()

    def rank(group: str) -> str:
        return hashlib.sha1(f"{seed}:{group}".encode()).hexdigest()

    count = min(len(unique) - 1, max(1, round(len(unique) * fraction)))
    return set(sorted(unique, key=rank)[:count])


# --- the loop -----------------------------------------------------------------------------------------


@dataclass
class History:
    """What a run did: every step's loss, the validations and how long it took."""

    losses: list[float] = field(default_factory=list)
    evals: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    resumed_from: int = 0

    @property
    def steps(self) -> int:
        return len(self.losses)


def _latest_checkpoint(folder: Path | None) -> Path | None:
    if folder is None or not folder.is_dir():
        return None
    found = [
        p for p in folder.iterdir() if p.name.startswith(CHECKPOINT_PREFIX) and (p / STATE_FILE).is_file()
    ]
    return max(found, key=lambda p: int(p.name.removeprefix(CHECKPOINT_PREFIX)), default=None)


def _schedule(warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if warmup <= 0:
            return 1.0
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _progress(total: int, initial: int, enabled: bool, desc: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit="step",
        disable=not enabled or not sys.stderr.isatty(),
        dynamic_ncols=True,
    )


def train_loop(
    model: Any,
    batch_at: Callable[[int], T],
    loss_of: Callable[[T], Any],
    run: RunArguments,
    *,
    params: Sequence[Any] | None = None,
    evaluate: Callable[[], dict[str, float]] | None = None,
    after_step: Callable[[int], None] | None = None,
    extra_state: Sequence[Any] = (),
    desc: str = "train",
) -> History:
    """``run.steps`` AdamW steps on ``model`` (its trainable parameters, or ``params``).

    ``batch_at(step)`` gives step ``step``'s batch (a function of the seed and the step: see :func:`step_rng`);
    ``loss_of(batch)`` the loss tensor. ``evaluate()`` runs every ``run.eval_every`` steps and at the end, its
    numbers kept in the history. ``after_step(step)`` runs after each optimiser step (an EMA teacher's update).
    Modules in ``extra_state`` (a teacher, a centre) are checkpointed with the model and the optimiser.
    """
    import torch
    from accelerate import Accelerator

    if run.threads:
        torch.set_num_threads(run.threads)
    from common.runtime import device

    accelerator = Accelerator(cpu=device().type == "cpu", mixed_precision=run.mixed_precision)
    trainable = list(params) if params is not None else [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=run.lr, weight_decay=run.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(run.warmup_steps, run.steps))
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    for extra in extra_state:
        extra.to(accelerator.device)
        accelerator.register_for_checkpointing(extra)

    history = History()
    checkpoints = run.checkpoints
    latest = _latest_checkpoint(checkpoints) if run.resume else None
    if latest is not None:
        accelerator.load_state(str(latest))
        state = json.loads((latest / STATE_FILE).read_text())
        history.losses, history.evals = state["losses"], state["evals"]
        history.resumed_from = len(history.losses)
        print(f"resumed from {latest} at step {history.resumed_from}", flush=True)

    started = time.perf_counter()
    model.train()
    bar = _progress(run.steps, history.steps, run.progress and accelerator.is_main_process, desc)
    for step in range(history.steps + 1, run.steps + 1):
        loss = loss_of(batch_at(step))
        accelerator.backward(loss)
        if run.max_grad_norm:
            accelerator.clip_grad_norm_(trainable, run.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if after_step is not None:
            after_step(step)
        history.losses.append(float(loss.detach()))
        bar.update(1)
        bar.set_postfix(loss=f"{history.losses[-1]:.4f}", refresh=False)
        if step % run.log_every == 0 or step == run.steps:
            print(f"step={step} loss={history.losses[-1]:.4f}", flush=True)
        if evaluate is not None and run.eval_every and step % run.eval_every == 0 and step != run.steps:
            history.evals.append({"step": step, **_evaluate(model, evaluate)})
        if checkpoints and run.checkpoint_every and step % run.checkpoint_every == 0:
            _save_checkpoint(accelerator, checkpoints, step, history)
    bar.close()
    if evaluate is not None:
        history.evals.append({"step": run.steps, **_evaluate(model, evaluate)})
    history.seconds = time.perf_counter() - started
    model.eval()
    return history


def _evaluate(model: Any, evaluate: Callable[[], dict[str, float]]) -> dict[str, float]:
    import torch

    model.eval()
    with torch.inference_mode():
        numbers = evaluate()
    model.train()
    print("validation " + " ".join(f"{k}={v:.4f}" for k, v in numbers.items()), flush=True)
    return numbers


def _save_checkpoint(accelerator: Any, folder: Path, step: int, history: History) -> None:
    """Save the state, then drop older checkpoints (one is enough to resume)."""
    target = folder / f"{CHECKPOINT_PREFIX}{step}"
    accelerator.save_state(str(target))
    (target / STATE_FILE).write_text(json.dumps({"losses": history.losses, "evals": history.evals}))
    for old in folder.iterdir():
        if old.name.startswith(CHECKPOINT_PREFIX) and old != target:
            shutil.rmtree(old, ignore_errors=True)


# --- the record of a run ------------------------------------------------------------------------------


def smoothed(values: Sequence[float], window: int = 0) -> list[float]:
    """A trailing moving average (window: a twentieth of the run, at least 1)."""
    window = window or max(1, len(values) // 20)
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def loss_fell(losses: Sequence[float]) -> bool:
    """Whether the smoothed loss at the end is below the smoothed loss at the start."""
    if len(losses) < 2:
        return False
    window = max(1, len(losses) // 5)
    return sum(losses[-window:]) / window < sum(losses[:window]) / window


def plot_curves(path: Path, history: History, title: str) -> bool:
    """The loss (raw and smoothed) and the validation numbers over the steps as a PNG; False without
    matplotlib (the record's JSON has the same numbers)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, loss_axis = plt.subplots(figsize=(7, 4), dpi=100)
    steps = list(range(1, history.steps + 1))
    loss_axis.plot(steps, history.losses, color="#9bb7d4", linewidth=0.8, label="loss")
    loss_axis.plot(steps, smoothed(history.losses), color="#1f4e79", linewidth=1.6, label="loss (smoothed)")
    loss_axis.set_xlabel("step")
    loss_axis.set_ylabel("loss")
    handles, labels = loss_axis.get_legend_handles_labels()
    if history.evals:
        metric_axis = loss_axis.twinx()
        names = [k for k in history.evals[-1] if k != "step"][:4]
        for name in names:
            points = [(e["step"], e[name]) for e in history.evals if name in e]
            metric_axis.plot(*zip(*points, strict=True), marker="o", linewidth=1.2, label=f"val {name}")
        metric_axis.set_ylabel("validation")
        more_handles, more_labels = metric_axis.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    loss_axis.legend(handles, labels, loc="best", fontsize=8)
    loss_axis.set_title(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return True


def write_record(
    model_dir: Path,
    history: History,
    arguments: Any,
    *,
    title: str,
    output_data_dir: Path | None = None,
    **details: Any,
) -> dict[str, Any]:
    """``metrics.json`` (arguments, every loss, validations, timing, ``details``), ``loss_curve.png`` and
    ``training_summary.json`` into ``model_dir`` (and a copy of the first two into ``output_data_dir``)."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    args = asdict(arguments) if is_dataclass(arguments) else dict(vars(arguments))
    summary = {
        "steps": history.steps,
        "first_loss": history.losses[0] if history.losses else None,
        "last_loss": history.losses[-1] if history.losses else None,
        "loss_fell": loss_fell(history.losses),
        "seconds": round(history.seconds, 1),
        "resumed_from": history.resumed_from,
        "validation": history.evals[-1] if history.evals else None,
        **details,
    }
    record = {
        "title": title,
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in args.items()},
        "summary": summary,
        "losses": [round(v, 6) for v in history.losses],
        "evals": history.evals,
    }
    (model_dir / RECORD_FILE).write_text(json.dumps(record, indent=1) + "\n")
    plot_curves(model_dir / CURVE_FILE, history, title)
    write_summary(model_dir, summary)
    if output_data_dir:
        Path(output_data_dir).mkdir(parents=True, exist_ok=True)
        for name in (RECORD_FILE, CURVE_FILE):
            if (model_dir / name).is_file():
                shutil.copy2(model_dir / name, Path(output_data_dir) / name)
    return summary


def write_summary(model_dir: Path, summary: dict[str, Any]) -> None:
    """``training_summary.json`` beside the weights: how they were made travels with them."""
    (Path(model_dir) / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, default=str) + "\n")


# --- data helpers -------------------------------------------------------------------------------------


def read_manifest(folder: Path, name: str) -> list[dict[str, Any]]:
    """The JSON-lines manifest ``folder/name``; image paths in it are relative to ``folder``."""
    path = Path(folder) / name
    if not path.is_file():
        raise FileNotFoundError(f"training data has no {name} in {folder}")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        raise ValueError(f"{path} is empty")
    return rows


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


# --- LoRA and answer-only labels (the VLM scripts) ------------------------------------------------------

BASE_DTYPES = ("float32", "bfloat16")


@dataclass
class LoraArguments:
    """LoRA settings; each script states its own defaults (BLIP-2: r 8, LLaVA: r 16; alpha 32)."""

    lora_rank: int = help_field(8, help="LoRA rank r")
    lora_alpha: int = help_field(32, help="LoRA scaling numerator alpha")
    lora_dropout: float = help_field(0.05, help="dropout on the LoRA path")
    base_dtype: str = help_field(
        "float32",
        help="dtype of the frozen base weights (float32 or bfloat16: halves a 7B model's memory; the adapters "
        "stay in float32)",
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


def sample(items: Sequence[T], size: int, rng: Any) -> list[T]:
    """``size`` distinct items drawn with ``rng`` (numpy), all of them when there are fewer."""
    if len(items) <= size:
        order = rng.permutation(len(items))
    else:
        order = rng.choice(len(items), size=size, replace=False)
    return [items[int(i)] for i in order]


def namespace(arguments: Any) -> argparse.Namespace:
    """A dataclass's fields as an ``argparse.Namespace`` (for code that reads ``args.x``)."""
    return argparse.Namespace(**asdict(arguments))
