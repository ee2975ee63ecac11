"""SageMaker model artifacts: ``model.tar.gz`` with the weights at the root and the handler under ``code/``.

The layout is the SageMaker PyTorch serving toolkit's: it extracts the tarball into ``/opt/ml/model``,
installs ``code/requirements.txt``, puts ``code/`` on ``sys.path`` (so ``from common.imaging import ...``
resolves to the copy of ``model_code/common`` shipped beside the handler) and calls ``code/inference.py``.
Archives are reproducible: sorted members, fixed owner and timestamps.
"""

from __future__ import annotations

import gzip
import tarfile
from collections.abc import Iterator
from pathlib import Path

SKIPPED = {"__pycache__", ".pytest_cache", "train.py"}
"""Not served: caches, and the training entry point (training jobs ship their own source)."""

AT_ROOT = {"serving.properties"}
"""Handler files a serving container reads from the artifact's root, not ``code/`` (DJL LMI for llava)."""


def _files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not SKIPPED.intersection(path.relative_to(folder).parts):
            yield path


def _add(archive: tarfile.TarFile, path: Path, name: str) -> None:
    info = archive.gettarinfo(str(path), arcname=name)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    info.mode = 0o644
    with path.open("rb") as handle:
        archive.addfile(info, handle)


def package_model(model: str, weights_dir: Path, out_tar: Path, model_code_dir: Path) -> Path:
    """Write ``out_tar`` from ``weights_dir`` and ``model_code/<model>`` + ``model_code/common``."""
    weights_dir, model_code_dir, out_tar = Path(weights_dir), Path(model_code_dir), Path(out_tar)
    handler_dir = model_code_dir / model
    for required in (handler_dir / "inference.py", handler_dir / "requirements.txt"):
        if not required.is_file():
            raise FileNotFoundError(f"{model}: {required} is missing")
    if not (weights_dir / "config.json").is_file():
        raise FileNotFoundError(f"{weights_dir} has no config.json: not a from_pretrained folder")
    members = [(path, path.relative_to(weights_dir).as_posix()) for path in _files(weights_dir)]
    if any(name.startswith("code/") for _, name in members):
        raise ValueError(f"{weights_dir} already has a code/ folder; pass the bare weights")
    members += [
        (path, path.name if path.name in AT_ROOT else f"code/{path.relative_to(handler_dir).as_posix()}")
        for path in _files(handler_dir)
    ]
    common = model_code_dir / "common"
    members += [(path, f"code/common/{path.relative_to(common).as_posix()}") for path in _files(common)]
    out_tar.parent.mkdir(parents=True, exist_ok=True)
    with (
        out_tar.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for path, name in members:
            _add(archive, path, name)
    return out_tar
