"""What the benchmarks share: the machine they ran on, percentiles, where results go, a prepared local home,
and timing of the in-process model endpoints. Not a benchmark itself (``make bench`` skips ``_*.py``)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
VITRINE = Path(sys.executable).with_name("vitrine")
sys.path.insert(0, str(REPO / "lambdas"))


def machine() -> dict[str, Any]:
    """The machine in words and numbers: cores, CPU model, memory, and how busy it was (the 1-minute load
    average when the results were written: other work on a shared machine moves the milliseconds)."""
    cpu = platform.processor() or platform.machine()
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
        cpu = model or cpu
    except (OSError, StopIteration):
        pass
    memory_gb = None
    try:
        import psutil

        memory_gb = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` (0..1) percentile by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def write_result(name: str, report: dict[str, Any], out: Path = RESULTS) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps({"bench": name, "machine": machine(), **report}, indent=2) + "\n")
    return path


def local_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a local-profile process over ``home`` (tiny models: this machine has no hub)."""
    return {
        **os.environ,
        "VITRINE_HOME": str(home),
        "VITRINE_PROFILE": "local",
        "VITRINE_MODEL_PROFILE": "tiny",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        **extra,
    }


def prepare_home(home: Path, products: int, street: int) -> None:
    """``vitrine prepare``: tiny models and a demo catalog of ``products`` products, ingested."""
    subprocess.run(
        [
            VITRINE,
            "prepare",
            "--demo-products",
            str(products),
            "--street",
            str(street),
            "--demo-hotels",
            "0",
        ],
        env=local_env(home),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


class ModelClock:
    """Wall time spent inside model endpoints' ``invoke``, summed over threads (the endpoints are shared
    by every holder, so timing their bound method catches every call, tagger included)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._lock = threading.Lock()

    def wrap(self, endpoints: dict[str, Any]) -> None:
        for endpoint in endpoints.values():
            endpoint.invoke = self._timed(endpoint.invoke)

    def _timed(self, invoke: Callable[..., bytes]) -> Callable[..., bytes]:
        def call(*args: Any, **kwargs: Any) -> bytes:
            start = time.perf_counter()
            try:
                return invoke(*args, **kwargs)
            finally:
                with self._lock:
                    self.seconds += time.perf_counter() - start
                    self.calls += 1

        return call

    def reset(self) -> None:
        with self._lock:
            self.seconds, self.calls = 0.0, 0


def pyplot() -> Any:
    """matplotlib's pyplot drawing to files only (no display here)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(figure: Any, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot().close(figure)
