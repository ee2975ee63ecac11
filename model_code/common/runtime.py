"""Torch process settings, the device and dtype models run on, and batching, shared by the handlers.

The endpoints run on GPU instances in the cloud (the PyTorch inference DLC on ml.g5.*) and on CPU locally
and in CI; :func:`device` is the one place that decides which, so a handler or a training script cannot
silently compute on the CPU of a GPU instance. torch is imported only when a function is called.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
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


class ModelTooLarge(MemoryError):
    """``model_fn`` refuses a model whose weights, in the dtype they would run in, do not fit in memory."""


MEMORY_SHARE = 0.8
"""The share of the available memory a model's weights may take on the CPU: activations and the request need the rest."""


def available_memory() -> int | None:
    """Bytes this process may still allocate: ``MemAvailable``, capped by its cgroup's limit less its usage (a
    container sees the host's ``/proc/meminfo``); ``None`` where neither can be read."""
    found: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    for limit, usage in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            cap = Path(limit).read_text().strip()
            if cap != "max" and int(cap) < 2**60:
                found.append(int(cap) - int(Path(usage).read_text().strip()))
                break
        except (OSError, ValueError):
            continue
    return min(found) if found else None


def checkpoint_parameters(model_dir: str | Path) -> int | None:
    """How many parameters the ``*.safetensors`` files at the top of ``model_dir`` hold, read from their headers
    (no tensor is loaded); ``None`` when there are none (a hub id, or another format)."""
    files = sorted(Path(model_dir).glob("*.safetensors")) if Path(model_dir).is_dir() else []
    if not files:
        return None
    total = 0
    for path in files:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length))
        total += sum(math.prod(entry["shape"]) for name, entry in header.items() if name != "__metadata__")
    return total


def cpu_has_bfloat16() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX512-BF16 or AMX); elsewhere torch emulates it, slowly."""
    import torch

    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def weights_dtype(target: Any, model_dir: str | Path, *, half: bool = False) -> Any:
    """The dtype to load ``model_dir`` in on ``target``: :func:`dtype_for`, unless on the CPU float32 weights
    would not fit in memory (:data:`MEMORY_SHARE` of :func:`available_memory`).

    Then a ``half`` model takes bfloat16 where the CPU has it (:func:`cpu_has_bfloat16`) and it fits; otherwise
    :class:`ModelTooLarge` says so, rather than a load that swaps the machine to a halt or is killed midway
    (llava-v1.6-mistral-7b is about 30 GB in float32). Sizes come from the safetensors headers; a folder without
    them (a hub id) gets :func:`dtype_for` unchecked.
    """
    import torch

    dtype = dtype_for(target, half=half)
    if torch.device(target).type != "cpu":
        return dtype
    parameters, memory = checkpoint_parameters(model_dir), available_memory()
    if parameters is None or memory is None:
        return dtype
    budget = memory * MEMORY_SHARE
    if parameters * 4 <= budget:
        return torch.float32
    bfloat16 = half and cpu_has_bfloat16()
    if bfloat16 and parameters * 2 <= budget:
        return torch.bfloat16
    gib = 2**30
    need = f"{parameters / 1e9:.2f}B parameters take {parameters * 4 / gib:.1f} GiB in float32"
    if bfloat16:
        need += f" and {parameters * 2 / gib:.1f} GiB in bfloat16"
    elif half:
        need += " (this CPU has no native bfloat16)"
    raise ModelTooLarge(
        f"{model_dir}: {need}, more than the {budget / gib:.1f} GiB this process may use on the CPU "
        f"({MEMORY_SHARE:.0%} of {memory / gib:.1f} GiB available); serve it on a GPU ({DEVICE_ENV}=cuda)"
    )


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
