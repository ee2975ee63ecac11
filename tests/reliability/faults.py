"""Fault-injecting wrappers around real adapters: the adapter does the work, the wrapper breaks chosen calls."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any


class Faulty:
    """Proxies ``target``; calls to ``method`` raise ``error()`` on the call numbers in ``on`` (1-based) or
    on every ``every``-th call. Every other attribute and call goes to the real adapter."""

    def __init__(
        self,
        target: Any,
        method: str,
        error: Callable[[], BaseException],
        *,
        on: Iterable[int] = (),
        every: int = 0,
        when: Callable[..., bool] | None = None,
    ) -> None:
        self._target = target
        self._method = method
        self._error = error
        self._on = set(on)
        self._every = every
        self._when = when
        self.calls = 0
        self.raised = 0

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._target, name)
        if name != self._method:
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._when is None or self._when(*args, **kwargs):
                self.calls += 1
                if self.calls in self._on or (self._every and self.calls % self._every == 0):
                    self.raised += 1
                    raise self._error()
            return real(*args, **kwargs)

        return call


def die(*args: Any, **kwargs: Any) -> None:
    """The process is killed: no ``finally``, no ``atexit``, nothing flushed."""
    os._exit(17)
