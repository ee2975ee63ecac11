"""Fault-injecting wrappers around real adapters: the adapter does the work, the wrapper breaks chosen calls.

Two kinds: :class:`Faulty` sits in front of a port (chosen calls, every n-th, or a seeded rate), and the
injectors below the adapters break what the adapter talks to, so the adapter's own error mapping runs:
:func:`dropping_connections` (the catalog's database connection drops mid-statement) and
:class:`FlakySageMakerRuntime` (the SageMaker runtime times out, throttles, or the model answers 500).
"""

from __future__ import annotations

import io
import json
import os
import random
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError
from sqlalchemy import event


class Faulty:
    """Proxies ``target``; calls to ``method`` raise ``error()`` on the call numbers in ``on`` (1-based), on
    every ``every``-th call, or at random with probability ``rate`` (seeded by ``seed``: a run repeats).
    Every other attribute and call goes to the real adapter."""

    def __init__(
        self,
        target: Any,
        method: str,
        error: Callable[[], BaseException],
        *,
        on: Iterable[int] = (),
        every: int = 0,
        when: Callable[..., bool] | None = None,
        rate: float = 0.0,
        seed: int = 0,
    ) -> None:
        self._target = target
        self._method = method
        self._error = error
        self._on = set(on)
        self._every = every
        self._when = when
        self._rate = rate
        self._random = random.Random(f"{seed}:{method}")
        self.calls = 0
        self.raised = 0

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._target, name)
        if name != self._method:
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._when is None or self._when(*args, **kwargs):
                self.calls += 1
                if (
                    self.calls in self._on
                    or (self._every and self.calls % self._every == 0)
                    or (self._rate and self._random.random() < self._rate)
                ):
                    self.raised += 1
                    raise self._error()
            return real(*args, **kwargs)

        return call


def dropping_connections(engine: Any, rate: float, seed: int = 0) -> Counter[str]:
    """Make ``rate`` of the statements on ``engine`` (a SQLAlchemy engine) fail as a dropped connection.

    The driver's own error is raised where the driver runs the statement, so SQLAlchemy wraps it, sees a
    disconnect and invalidates the pooled connection, and the adapter maps it as it would a real drop.
    Returns the counter of injected drops (``counter["dropped"]``).
    """
    chance = random.Random(f"{seed}:db")
    counts: Counter[str] = Counter()

    @event.listens_for(engine, "do_execute")
    def _drop(cursor: Any, statement: str, parameters: Any, context: Any) -> None:
        if chance.random() < rate:
            counts["dropped"] += 1
            raise sqlite3.OperationalError("Cannot operate on a closed database.")

    return counts


Model = Callable[[bytes, str, str], bytes]


class FlakySageMakerRuntime:
    """A ``sagemaker-runtime`` client whose endpoints are in-process models (``{name: invoke}``), failing at
    set rates as the service does: a read timeout (no answer), ``ThrottlingException``, and ``ModelError``
    wrapping the container's HTTP 500. Give it to the real
    :class:`~vitrine.adapters.aws.sagemaker_endpoint.SageMakerEndpoint`, which maps each of them."""

    def __init__(self, models: Mapping[str, Model], rates: Mapping[str, float], seed: int = 0) -> None:
        self._models = dict(models)
        self._rates = dict(rates)
        self._random = random.Random(f"{seed}:sagemaker")
        self.raised: Counter[str] = Counter()

    def _fault(self, name: str) -> BaseException | None:
        kinds = {
            "timeout": lambda: ReadTimeoutError(endpoint_url=f"https://runtime.sagemaker/{name}"),
            "throttling": lambda: _client_error("ThrottlingException", "Rate exceeded", 400),
            "model_500": lambda: _client_error(
                "ModelError",
                "Received server error (500) from primary",
                424,
                OriginalStatusCode=500,
                OriginalMessage=json.dumps({"error": "CUDA error: an illegal memory access"}),
            ),
        }
        for kind, rate in self._rates.items():
            if self._random.random() < rate:
                self.raised[kind] += 1
                return kinds[kind]()
        return None

    def invoke_endpoint(self, EndpointName: str, Body: bytes, ContentType: str, Accept: str) -> dict:
        fault = self._fault(EndpointName)
        if fault is not None:
            raise fault
        return {"Body": io.BytesIO(self._models[EndpointName](Body, ContentType, Accept))}


def _client_error(code: str, message: str, status: int, **extra: Any) -> ClientError:
    response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError({**response, **extra}, "InvokeEndpoint")


def die(*args: Any, **kwargs: Any) -> None:
    """The process is killed: no ``finally``, no ``atexit``, nothing flushed."""
    os._exit(17)
