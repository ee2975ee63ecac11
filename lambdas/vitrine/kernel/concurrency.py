"""Concurrent calls to services that batch on their side (Bedrock, vLLM's rolling batch)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_concurrently(call: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """``[call(item) for item in items]`` with up to ``workers`` calls in flight; the first error raises."""
    if len(items) <= 1:
        return [call(item) for item in items]
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items)))) as pool:
        return list(pool.map(call, items))
