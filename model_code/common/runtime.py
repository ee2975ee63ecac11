"""Torch process settings and batching, shared by the handlers (torch is imported only when called)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

_configured = False


def configure_torch() -> None:
    """Set torch's thread count once per process, from ``OMP_NUM_THREADS`` or the cores we have.

    Torch otherwise sizes its pool on the host's cores, not the container's quota, and oversubscribed
    threads make CPU inference several times slower.
    """
    global _configured
    if _configured:
        return
    import torch

    threads = int(os.environ.get("OMP_NUM_THREADS") or len(os.sched_getaffinity(0)) or 1)
    torch.set_num_threads(max(1, threads))
    _configured = True


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items: the batches a model runs at once."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def input_side(image_processor: object, default: int) -> int:
    """The smallest image side a transformers image processor resizes to: how far a JPEG may be drafted."""
    size = getattr(image_processor, "size", None) or {}
    side = size.get("shortest_edge") or min(size.get("height") or default, size.get("width") or default)
    return int(side)
