"""SageMaker model artifacts: ``model.tar.gz`` with the weights at the root and the handler under ``code/``.

The layout is the SageMaker PyTorch serving toolkit's: it extracts the tarball into ``/opt/ml/model``,
installs ``code/requirements.txt``, puts ``code/`` on ``sys.path`` (so ``from common.imaging import ...``
resolves to the copy of ``model_code/common`` shipped beside the handler) and calls ``code/inference.py``.
Archives are reproducible: sorted members, fixed owner and timestamps.

A handler folder with an ``artifact.py`` says how its weights folder must look where it is served:
``compatible_files(folder)`` gives files to write instead of (or beside) the folder's own, and
``weights_header(path)`` a safetensors file's new header. The llava one writes what DJL LMI 0.31's transformers
4.45 and vLLM read (chat template in ``tokenizer_config.json``, ``preprocessor_config.json``, weight names...);
the weights folder itself is left as it is.

Our endpoints run with network isolation in private subnets, so the container's ``pip install`` cannot reach
PyPI. Given a folder of wheels, the packager vendors the ones the requirements need (dependencies included)
into ``code/wheels/`` and points ``code/requirements.txt`` at them, so the install at start-up runs offline.
"""

from __future__ import annotations

import email.parser
import gzip
import importlib.util
import io
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

SKIPPED = {"__pycache__", ".pytest_cache", "train.py"}
"""Not served: caches, and the training entry point (training jobs ship their own source)."""

AT_ROOT = {"serving.properties"}
"""Handler files a serving container reads from the artifact's root, not ``code/`` (DJL LMI for llava)."""

SERVING_ROOT = "/opt/ml/model"
"""Where SageMaker extracts the artifact: vendored wheels are found under it at start-up."""

CONTAINER_PINS = Path(__file__).resolve().parents[3] / "infra" / "containers.toml"
TARGET_PYTHON = str(tomllib.loads(CONTAINER_PINS.read_text())["pytorch_inference"]["python"])
"""The serving container's Python, from the one pin file: wheels are chosen, and downloaded, for it."""

TARGET_PLATFORM = "manylinux2014_x86_64"
"""The serving container's platform tag (glibc 2.17 and up, x86_64), the same one ``pip download`` asks for."""

TARGET_MARKERS = {
    "python_version": TARGET_PYTHON,
    "python_full_version": f"{TARGET_PYTHON}.0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "os_name": "posix",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
}
"""Environment markers evaluated for the container, not for the machine that builds the artifact."""

CONTAINER_PROVIDED = {"torch", "numpy", "pillow"}
"""Already in the SageMaker PyTorch inference image: not vendored when only a dependency asks for them
(a requirements file naming one directly still gets its wheel), so torch's GBs stay out of the artifact."""


ARTIFACT_HOOK = "artifact.py"
"""The optional module in ``model_code/<model>/`` that rewrites weights-folder files for the serving container."""


@dataclass(frozen=True)
class Spliced:
    """A member made of ``head`` followed by ``path``'s bytes from ``offset`` on (a safetensors file with a new
    header: its tensors are copied as they are, never loaded)."""

    head: bytes
    path: Path
    offset: int

    @property
    def size(self) -> int:
        return len(self.head) + self.path.stat().st_size - self.offset


class _SplicedReader:
    def __init__(self, spliced: Spliced, handle: BinaryIO) -> None:
        self.head = io.BytesIO(spliced.head)
        self.handle = handle
        handle.seek(spliced.offset)

    def read(self, size: int = -1) -> bytes:
        chunk = self.head.read(size)
        if size < 0:
            return chunk + self.handle.read()
        return chunk + self.handle.read(size - len(chunk)) if len(chunk) < size else chunk


def artifact_hook(handler_dir: Path) -> ModuleType | None:
    """``handler_dir/artifact.py`` loaded from its file under a private name, or ``None`` when there is none."""
    path = Path(handler_dir) / ARTIFACT_HOOK
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location(f"vitrine_artifact_hook_{Path(handler_dir).name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not SKIPPED.intersection(path.relative_to(folder).parts):
            yield path


Source = Path | bytes | Spliced


def _add(archive: tarfile.TarFile, source: Source, name: str) -> None:
    if isinstance(source, Path):
        info = archive.gettarinfo(str(source), arcname=name)
    else:
        info = tarfile.TarInfo(name)
        info.size = source.size if isinstance(source, Spliced) else len(source)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    info.mode = 0o644
    if isinstance(source, bytes):
        archive.addfile(info, io.BytesIO(source))
        return
    with (source if isinstance(source, Path) else source.path).open("rb") as handle:
        archive.addfile(info, handle if isinstance(source, Path) else _SplicedReader(source, handle))


def _served_weights(weights_dir: Path, handler_dir: Path) -> list[tuple[Source, str]]:
    """The weights folder's members as the serving container needs them (:data:`ARTIFACT_HOOK`), sorted by name."""
    members: dict[str, Source] = {
        path.relative_to(weights_dir).as_posix(): path for path in _files(weights_dir)
    }
    hook = artifact_hook(handler_dir)
    if hook is not None:
        members.update(hook.compatible_files(weights_dir))
        for name, source in list(members.items()):
            if isinstance(source, Path) and name.endswith(".safetensors"):
                spliced = hook.weights_header(source)
                if spliced is not None:
                    members[name] = Spliced(spliced[0], source, spliced[1])
    return [(members[name], name) for name in sorted(members)]


def download_command(requirements: Path, dest: Path, python: str = sys.executable) -> list[str]:
    """The ``pip download`` argv that fills ``dest`` with wheels for the serving container.

    Binary-only and pinned to the container's platform and Python, so what lands in ``dest`` installs there
    whatever machine runs it; dependencies are included, as the offline install needs them all.
    """
    return [
        python,
        "-m",
        "pip",
        "download",
        "-r",
        str(requirements),
        "--only-binary=:all:",
        "--platform",
        TARGET_PLATFORM,
        "--python-version",
        TARGET_PYTHON,
        "--implementation",
        "cp",
        "-d",
        str(dest),
    ]


def download_wheels(requirements: Path, dest: Path) -> Path:
    """Run :func:`download_command` (needs PyPI or a mirror) and return ``dest``."""
    Path(dest).mkdir(parents=True, exist_ok=True)
    subprocess.run(download_command(requirements, dest), check=True)
    return Path(dest)


def _target_tags() -> set[Any]:
    from packaging import tags

    version = tuple(int(part) for part in TARGET_PYTHON.split("."))
    minor = version[1]
    platforms = [f"manylinux_2_{glibc}_x86_64" for glibc in range(17, 4, -1)]
    platforms += [TARGET_PLATFORM, "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64"]
    return {
        *tags.cpython_tags(python_version=version, abis=[f"cp3{minor}"], platforms=platforms),
        *tags.compatible_tags(python_version=version, interpreter=f"cp3{minor}", platforms=platforms),
    }


def _requires_dist(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        metadata = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        if not metadata:
            raise ValueError(f"{wheel.name} is not a wheel: no *.dist-info/METADATA")
        text = archive.read(metadata[0]).decode("utf-8")
    return email.parser.Parser().parsestr(text, headersonly=True).get_all("Requires-Dist") or []


def _applies(requirement: Any, extras: set[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({**TARGET_MARKERS, "extra": e}) for e in {"", *extras})


def select_wheels(requirements_text: str, wheels_dir: Path) -> list[Path]:
    """The wheels in ``wheels_dir`` that install ``requirements_text`` in the container, dependencies included.

    For each project (PEP 503 names) it takes the newest version that suits the container's Python and
    platform and every specifier seen so far, then follows that wheel's ``Requires-Dist``. A missing wheel is
    an error here, at build time, rather than a failed endpoint start ten minutes into a deployment.
    """
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.specifiers import SpecifierSet
    from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

    wheels_dir = Path(wheels_dir)
    if not wheels_dir.is_dir():
        raise FileNotFoundError(f"no wheel folder at {wheels_dir}")
    available: dict[str, list[tuple[Any, Path, bool]]] = {}
    target = _target_tags()
    for wheel in sorted(wheels_dir.glob("*.whl")):
        try:
            name, version, _, wheel_tags = parse_wheel_filename(wheel.name)
        except InvalidWheelFilename as error:
            raise ValueError(f"{wheel}: {error}") from error
        available.setdefault(name, []).append((version, wheel, bool(wheel_tags & target)))

    queue: list[tuple[Any, str | None, set[str]]] = []
    for line in requirements_text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            raise ValueError(f"cannot vendor wheels for the pip option line {line!r}")
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            raise ValueError(f"bad requirement {line!r}: {error}") from error
        if requirement.url:
            raise ValueError(f"cannot vendor wheels for the URL requirement {line!r}")
        queue.append((requirement, None, set()))

    specifiers: dict[str, Any] = {}
    extras: dict[str, set[str]] = {}
    chosen: dict[str, tuple[Any, frozenset[str]]] = {}
    selected: set[Path] = set()
    while queue:
        requirement, parent, parent_extras = queue.pop(0)
        name = canonicalize_name(requirement.name)
        if not _applies(requirement, parent_extras) or (parent and name in CONTAINER_PROVIDED):
            continue
        specifiers[name] = specifiers.get(name, SpecifierSet()) & requirement.specifier
        extras[name] = extras.get(name, set()) | set(requirement.extras)
        candidates = [(v, w) for v, w, fits in available.get(name, []) if fits]
        matching = [(v, w) for v, w in candidates if specifiers[name].contains(v)]
        if not matching:
            found = sorted({str(v) for v, _ in candidates})
            unfit = sorted(w.name for _, w, fits in available.get(name, []) if not fits)
            detail = f" (needed by {parent})" if parent else ""
            detail += f"; found versions {', '.join(found)}" if found else ""
            detail += f"; not for cp{TARGET_PYTHON} {TARGET_PLATFORM}: {', '.join(unfit)}" if unfit else ""
            raise FileNotFoundError(f"{wheels_dir} has no wheel for requirement {requirement}{detail}")
        best = max(v for v, _ in matching)
        state = (best, frozenset(extras[name]))
        if chosen.get(name) == state:
            continue
        chosen[name] = state
        for version, wheel in matching:
            if version == best:
                selected.add(wheel)
                queue += [
                    (Requirement(r), f"{name} {best}", set(extras[name])) for r in _requires_dist(wheel)
                ]
    return sorted(selected, key=lambda wheel: wheel.name)


def offline_requirements(requirements_text: str) -> str:
    """``requirements_text`` behind the lines that make pip install from ``code/wheels/`` and nowhere else."""
    body = requirements_text if requirements_text.endswith("\n") else f"{requirements_text}\n"
    return f"--no-index\n--find-links {SERVING_ROOT}/code/wheels\n{body}"


def package_model(
    model: str, weights_dir: Path, out_tar: Path, model_code_dir: Path, wheels_dir: Path | None = None
) -> Path:
    """Write ``out_tar`` from ``weights_dir`` and ``model_code/<model>`` + ``model_code/common``.

    With ``wheels_dir``, the wheels :func:`select_wheels` picks go to ``code/wheels/`` and
    ``code/requirements.txt`` installs from them offline, as network-isolated endpoints need. The weights go in
    as the handler's :data:`ARTIFACT_HOOK` rewrites them for its serving container, when it has one.
    """
    weights_dir, model_code_dir, out_tar = Path(weights_dir), Path(model_code_dir), Path(out_tar)
    handler_dir = model_code_dir / model
    for required in (handler_dir / "inference.py", handler_dir / "requirements.txt"):
        if not required.is_file():
            raise FileNotFoundError(f"{model}: {required} is missing")
    if not (weights_dir / "config.json").is_file():
        raise FileNotFoundError(f"{weights_dir} has no config.json: not a from_pretrained folder")
    members = _served_weights(weights_dir, handler_dir)
    if any(name.startswith("code/") for _, name in members):
        raise ValueError(f"{weights_dir} already has a code/ folder; pass the bare weights")
    members += [
        (path, path.name if path.name in AT_ROOT else f"code/{path.relative_to(handler_dir).as_posix()}")
        for path in _files(handler_dir)
    ]
    common = model_code_dir / "common"
    members += [(path, f"code/common/{path.relative_to(common).as_posix()}") for path in _files(common)]
    if wheels_dir is not None:
        if any(name.startswith("code/wheels/") for _, name in members):
            raise ValueError(f"{handler_dir} has a wheels/ folder, which vendored wheels would shadow")
        requirements = (handler_dir / "requirements.txt").read_text(encoding="utf-8")
        members = [
            (offline_requirements(requirements).encode("utf-8"), name)
            if name == "code/requirements.txt"
            else (source, name)
            for source, name in members
        ]
        members += [(wheel, f"code/wheels/{wheel.name}") for wheel in select_wheels(requirements, wheels_dir)]
    out_tar.parent.mkdir(parents=True, exist_ok=True)
    with (
        out_tar.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for source, name in members:
            _add(archive, source, name)
    return out_tar
