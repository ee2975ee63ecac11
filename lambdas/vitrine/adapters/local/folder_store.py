"""The local object store: a folder on disk that behaves like the S3 bucket the cloud profile uses.

Keys are relative paths under the root. The things S3 gives for free are reproduced on purpose, because
the pipelines rely on them: a write is atomic (a reader never sees half an image), every object has an
ETag (the MD5 of its bytes, as S3 gives for single-part uploads) and a version that changes on every
replacement, and ``list`` walks keys in key order with S3's plain string-prefix semantics.

Metadata lives in sidecar files under ``<root>/.meta/`` so the data files stay plain files an operator
can open or drop in by hand (a file without a sidecar still has a size, an ETag and a guessed type).
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from vitrine.errors import BadInput, NotFound, TooLarge
from vitrine.kernel.types import ObjectInfo

META_DIR = ".meta"
"""Reserved first path segment: sidecar metadata and temporary files, never an object."""

UPLOAD_URL = "/api/uploads/"
OBJECT_URL = "/api/objects/"


@dataclass(frozen=True)
class _UploadGrant:
    """What a presigned upload allows, checked when the bytes arrive, as S3 checks its POST policy."""

    content_type: str
    max_bytes: int
    expires_at: float


def _check_key(key: str) -> list[str]:
    """The key's path segments; refuse anything that could escape the root or alias another key."""
    segments = key.split("/")
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise BadInput(f"invalid object key {key!r}: must be a relative path")
    if any(s in ("", ".", "..") for s in segments):
        raise BadInput(f"invalid object key {key!r}: empty, '.' or '..' segment")
    if segments[0] == META_DIR:
        raise BadInput(f"invalid object key {key!r}: {META_DIR}/ is reserved")
    return segments


def _check_prefix(prefix: str) -> None:
    """A prefix may be empty or end in '/', but must not climb out of the root either."""
    if prefix:
        _check_key(prefix.removesuffix("/") or ".")


def _next_version(previous: str) -> str:
    """A version greater than ``previous``: nanoseconds, zero-padded so string order is numeric order."""
    now = time.time_ns()
    if previous.isdigit():
        now = max(now, int(previous) + 1)
    return f"{now:020d}"


def _write_atomically(path: Path, data: bytes, scratch: Path) -> None:
    """Write to a temporary file beside the final one's filesystem, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=scratch)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class FolderStore:
    """:class:`~vitrine.kernel.ports.ObjectStore` on a folder (the local profile's bucket)."""

    def __init__(self, root: Path, name: str = "local") -> None:
        self.root = Path(root)
        self.name = name
        self._meta = self.root / META_DIR
        self._grants: dict[str, _UploadGrant] = {}
        self._lock = threading.Lock()

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*_check_key(key))

    def _sidecar(self, key: str) -> Path:
        *folders, name = _check_key(key)
        return self._meta.joinpath(*folders, name + ".json")

    def _read_sidecar(self, key: str) -> dict[str, Any]:
        try:
            return json.loads(self._sidecar(key).read_text("utf-8"))
        except (OSError, ValueError):
            return {}

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"no object {key!r} in {self.name}") from None

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> ObjectInfo:
        path = self._path(key)
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
        with self._lock:
            version = _next_version(str(self._read_sidecar(key).get("version", "")))
            try:
                _write_atomically(path, data, self._meta / "tmp")
                meta = {
                    "content_type": content_type,
                    "etag": etag,
                    "version": version,
                    "size": len(data),
                    "mtime_ns": path.stat().st_mtime_ns,
                }
                _write_atomically(self._sidecar(key), json.dumps(meta).encode(), self._meta / "tmp")
            except (IsADirectoryError, NotADirectoryError, FileExistsError):
                # S3 allows both "a" and "a/b"; a folder cannot hold a file and a directory of one name.
                raise BadInput(f"object key {key!r} clashes with an existing key in {self.name}") from None
        return ObjectInfo(key=key, size=len(data), etag=etag, version=version, content_type=content_type)

    def head(self, key: str) -> ObjectInfo:
        path = self._path(key)
        if not path.is_file():
            raise NotFound(f"no object {key!r} in {self.name}")
        return self._info(key, path)

    def _info(self, key: str, path: Path) -> ObjectInfo:
        """Metadata from the sidecar; a file dropped in by hand gets it computed from its bytes."""
        stat = path.stat()
        meta = self._read_sidecar(key)
        if (meta.get("size"), meta.get("mtime_ns")) != (stat.st_size, stat.st_mtime_ns):
            meta = {
                "etag": hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest(),
                "version": f"{stat.st_mtime_ns:020d}",
                "content_type": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
            }
        return ObjectInfo(
            key=key,
            size=stat.st_size,
            etag=meta["etag"],
            version=meta["version"],
            content_type=meta["content_type"],
        )

    def delete(self, key: str) -> None:
        path = self._path(key)
        with self._lock:
            if path.is_file():
                path.unlink()
            self._sidecar(key).unlink(missing_ok=True)
            self._prune(path.parent)

    def _prune(self, folder: Path) -> None:
        """Remove folders a delete left empty, so a later key may reuse the name as a file."""
        while folder != self.root and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose key starts with ``prefix`` (a plain string prefix, as in S3), in key order."""
        _check_prefix(prefix)
        start = self.root.joinpath(*prefix.split("/")[:-1])
        if not start.is_dir():
            return
        keys = []
        for folder, dirs, files in os.walk(start):
            if Path(folder) == self.root and META_DIR in dirs:
                dirs.remove(META_DIR)
            rel = Path(folder).relative_to(self.root).as_posix()
            keys.extend(name if rel == "." else f"{rel}/{name}" for name in files)
        # Python orders str by code point, which is the UTF-8 byte order S3 lists in.
        for key in sorted(k for k in keys if k.startswith(prefix)):
            yield self._info(key, self.root / key)

    def presign_upload(
        self, key: str, content_type: str, max_bytes: int, expires_s: int = 300
    ) -> dict[str, Any]:
        """A PUT to the local server, which hands the bytes to :meth:`accept_upload`."""
        _check_key(key)
        with self._lock:
            self._grants[key] = _UploadGrant(content_type, max_bytes, time.time() + expires_s)
        return {
            "url": UPLOAD_URL + quote(key),
            "fields": {"Content-Type": content_type},
            "key": key,
            "method": "PUT",
        }

    def accept_upload(self, key: str, data: bytes, content_type: str) -> ObjectInfo:
        """Store an upload only as :meth:`presign_upload` allowed it: in time, of that type, not too big."""
        with self._lock:
            grant = self._grants.get(key)
            if grant is None or grant.expires_at < time.time():
                raise BadInput(f"no valid upload URL for {key!r}: ask for a new one")
            if content_type != grant.content_type:
                raise BadInput(f"upload of {key!r} must be {grant.content_type}, not {content_type}")
            if len(data) > grant.max_bytes:
                raise TooLarge(f"upload of {key!r} is {len(data)} bytes; the limit is {grant.max_bytes}")
            del self._grants[key]
        return self.put(key, data, content_type)

    def url_for(self, key: str, expires_s: int = 3600) -> str:
        """The local server's URL for the object (local URLs do not expire)."""
        _check_key(key)
        return OBJECT_URL + quote(key)
