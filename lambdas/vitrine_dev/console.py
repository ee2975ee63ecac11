"""A readable terminal for the local commands: progress bars and summaries on screen, per-object JSON logs
in ``VITRINE_HOME/logs/vitrine.jsonl`` (``--verbose`` keeps them on the terminal, as Lambda does)."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

LOG_FILE = "logs/vitrine.jsonl"
_state: dict[str, logging.Handler] = {}


def quiet_libraries() -> None:
    """Model libraries draw a progress bar per weights file: noise at every start. Set before they import."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    # Locally there is no CloudWatch to read embedded-metric lines: keep them (and the warning that a
    # batch had none) off the terminal.
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    warnings.filterwarnings("ignore", message="No application metrics to publish")


def route_logs(home: Path) -> Path:
    """Send Vitrine's logs to the log file from now on (the handlers' Powertools loggers and ``vitrine.*``);
    call again after importing a handler module, whose logger writes to stdout until then."""
    path = home.resolve() / LOG_FILE
    if "file" not in _state:
        path.parent.mkdir(parents=True, exist_ok=True)
        _state["file"] = logging.FileHandler(path, encoding="utf-8")
        package = logging.getLogger("vitrine")
        package.addHandler(_state["file"])
        package.propagate = False
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and name.startswith("vitrine-"):
            _to_file(logger, _state["file"])
    return path


def _to_file(logger: logging.Logger, file_handler: logging.Handler) -> None:
    for handler in list(logger.handlers):
        if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stdout, sys.stderr):
            own = logging.FileHandler(file_handler.baseFilename, encoding="utf-8")  # type: ignore[attr-defined]
            own.setFormatter(handler.formatter)  # keep Powertools' JSON lines
            logger.removeHandler(handler)
            logger.addHandler(own)
