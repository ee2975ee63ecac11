"""The local model endpoint: ``model_code/<name>/inference.py`` run in this process.

It is called with the same bytes and content type a SageMaker endpoint gets and goes through the same four
handler functions, so the local profile exercises the code that ships. The handler is imported on first use
(torch and transformers load only then) under a module name of its own, so two endpoints never share one.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

from vitrine.errors import BadInput, TooLarge, Unavailable

_instances = itertools.count()

TINY_MARKER = "VITRINE_TINY_MODEL"
"""A file in every tiny model folder (built by ``vitrine_dev``): the app says "tiny model" wherever one answers."""


def is_tiny(model_dir: str | Path) -> bool:
    """Whether ``model_dir`` holds tiny random weights, which make answers meaningless."""
    return (Path(model_dir) / TINY_MARKER).is_file()


class InProcessEndpoint:
    """A :class:`vitrine.kernel.ports.ModelEndpoint` backed by a handler module loaded in-process."""

    def __init__(self, name: str, model_code_dir: Path, model_dir: str) -> None:
        self.name = name
        self.model_code_dir = Path(model_code_dir)
        self.model_dir = model_dir
        self._module_name = f"vitrine_model_code_{name}_{next(_instances)}"
        self._handler: ModuleType | None = None
        self._model: Any = None
        self._load_lock = threading.Lock()
        # Torch already uses every core for one call; concurrent calls would only thrash them.
        self._predict_lock = threading.Lock()

    def load(self) -> None:
        """Import the handler and run ``model_fn`` once (the local server warms every endpoint at start)."""
        with self._load_lock:
            if self._handler is not None:
                return
            handler = self._import_handler()
            try:
                self._model = handler.model_fn(self.model_dir)
            except Exception as error:
                raise Unavailable(
                    f"model {self.name} failed to load from {self.model_dir}: {error}"
                ) from error
            self._handler = handler

    def _import_handler(self) -> ModuleType:
        path = self.model_code_dir / self.name / "inference.py"
        if not path.is_file():
            raise Unavailable(f"model {self.name} has no handler at {path}")
        code_dir = str(self.model_code_dir)
        if code_dir not in sys.path:
            sys.path.insert(0, code_dir)
        spec = importlib.util.spec_from_file_location(self._module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[self._module_name] = module  # dataclasses look their module up while the class is made
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            del sys.modules[self._module_name]
            raise Unavailable(f"model {self.name}: handler failed to import: {error}") from error
        return module

    def invoke(self, body: bytes, content_type: str, accept: str = "application/json") -> bytes:
        """input_fn -> predict_fn -> output_fn; refusals become :class:`BadInput`/:class:`TooLarge`."""
        if self._handler is None:
            self.load()
        handler = self._handler
        try:
            data = handler.input_fn(body, content_type)
            with self._predict_lock:
                prediction = handler.predict_fn(data, self._model)
            output = handler.output_fn(prediction, accept)
        except Exception as error:
            raise _domain_error(self.name, error) from error
        return output[0] if isinstance(output, tuple) else output


def _domain_error(name: str, error: Exception) -> Exception:
    """A handler's refusal (an error with a 4xx ``status_code``) is the caller's fault; anything else is ours."""
    status = getattr(error, "status_code", None)
    message = getattr(error, "message", None) or str(error)
    if isinstance(status, int) and 400 <= status < 500:
        return TooLarge(message) if status == 413 else BadInput(message)
    return Unavailable(f"model {name} failed: {type(error).__name__}: {error}")
