"""Torch process settings, the device and dtype models run on, and batching, shared by the handlers.

The endpoints run on GPU instances in the cloud (the PyTorch inference DLC on ml.g5.*) and on CPU locally
and in CI; :func:`device` is the one place that decides which, so a handler or a training script cannot
silently compute on the CPU of a GPU instance. torch is imported only when a function is called.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

DEVICE_ENV = "VITRINE_DEVICE"
"""Overrides the device choice: ``cpu``, ``cuda`` or ``cuda:N`` (for instance to pin one GPU of several)."""
_DEVICE_NAME = re.compile(r"cpu|cuda(:\d+)?")

_threads_set = False


def device() -> Any:
    """The ``torch.device`` models and their inputs go to: ``$VITRINE_DEVICE`` when set, else CUDA when
    torch sees a GPU, else the CPU.

    The override is checked here rather than left to torch, so a typo or a GPU that is not there stops
    ``model_fn`` with a message naming the variable instead of failing later inside a forward pass.
    """
    import torch

    requested = os.environ.get(DEVICE_ENV, "").strip().lower()
    if not requested:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not _DEVICE_NAME.fullmatch(requested):
        raise ValueError(f"{DEVICE_ENV}={requested!r} is not a device we run on: use cpu, cuda or cuda:N")
    chosen = torch.device(requested)
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{DEVICE_ENV}={requested} but torch sees no CUDA device")
        if chosen.index is not None and chosen.index >= torch.cuda.device_count():
            raise ValueError(
                f"{DEVICE_ENV}={requested} but torch sees {torch.cuda.device_count()} CUDA device(s)"
            )
    return chosen


def dtype_for(target: Any, *, half: bool = False) -> Any:
    """The weight dtype on ``target``: float32, or with ``half`` on a CUDA device, 16-bit floats.

    ``half`` is for the large generative models (BLIP-2, LLaVA), whose memory and speed depend on it and
    whose answers tolerate it; the embedders and the detector stay in float32, because the vectors in an
    index and the detection thresholds were made at that precision. bfloat16 is preferred where the GPU
    has it (A10G and newer): it has float32's range, so T5-style language models do not overflow as they
    can in float16; older GPUs (T4) get float16.
    """
    import torch

    if not half or torch.device(target).type != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def configure_torch(target: Any = None) -> None:
    """Set torch's thread count once per process, and on a CUDA ``target`` the fast GPU kernels.

    Threads come from ``OMP_NUM_THREADS`` or the cores we have: torch otherwise sizes its pool on the host's
    cores, not the container's quota, and oversubscribed threads make CPU inference several times slower.
    On CUDA, cuDNN autotuning pays off because a model sees the same few input shapes (the processor
    resizes images), and TF32 matrix products are much faster on Ampere GPUs for a precision loss far
    below what the models' outputs resolve.
    """
    global _threads_set
    import torch

    if not _threads_set:
        threads = int(os.environ.get("OMP_NUM_THREADS") or len(os.sched_getaffinity(0)) or 1)
        torch.set_num_threads(max(1, threads))
        _threads_set = True
    if target is not None and torch.device(target).type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")


def to_model(inputs: Mapping[str, Any], model: Any) -> dict[str, Any]:
    """``inputs`` (a processor's output) moved to ``model``'s device, floating tensors cast to its dtype.

    Integer tensors (token ids, masks, sizes) keep their dtype; values that are not tensors pass through.
    A model whose weights moved to a GPU refuses inputs left on the CPU, and half-precision weights refuse
    float32 pixels, so every forward and ``generate`` call goes through this.
    """
    return on_device(inputs, model_device(model), model_dtype(model))


def on_device(inputs: Mapping[str, Any], target: Any, dtype: Any = None) -> dict[str, Any]:
    """``inputs`` with every tensor on ``target`` and, when ``dtype`` is given, every floating one in it."""
    import torch

    moved: dict[str, Any] = {}
    for name, value in inputs.items():
        if isinstance(value, torch.Tensor):
            cast = dtype if dtype is not None and value.is_floating_point() else None
            value = value.to(device=target, dtype=cast)
        moved[name] = value
    return moved


def model_device(model: Any) -> Any:
    """The device of ``model``'s first parameter: where its inputs must be."""
    return next(model.parameters()).device


def model_dtype(model: Any) -> Any:
    """The dtype of ``model``'s first floating parameter: what its floating inputs must be.

    Models that keep a few modules in float32 under half precision (BLIP-2's Q-Former) cast between them
    internally; their inputs enter through the first, half-precision, modules.
    """
    return next(p.dtype for p in model.parameters() if p.is_floating_point())


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items: the batches a model runs at once."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def input_side(image_processor: object, default: int) -> int:
    """The smallest image side a transformers image processor resizes to: how far a JPEG may be drafted."""
    size = getattr(image_processor, "size", None) or {}
    side = size.get("shortest_edge") or min(size.get("height") or default, size.get("width") or default)
    return int(side)
