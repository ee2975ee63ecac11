"""The local operator token: a random secret in ``VITRINE_HOME/operator-token`` (mode 0600).

``vitrine serve`` makes it on first use and prints it; the operator page asks for it once. The Lambda side
(:mod:`vitrine.api.auth`, local profile) reads the same file to check ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from vitrine.api.auth import token_path

TOKEN_BYTES = 32


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def ensure_token(home: Path) -> str:
    """The token in ``home``, created (``secrets.token_urlsafe``, owner-only) when there is none.

    The file appears whole or not at all (written aside, then hard-linked into place), so two processes
    starting together agree on one token."""
    home.mkdir(parents=True, exist_ok=True)
    path = token_path(home)
    token = _read(path)
    if not token:
        aside = home / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(TOKEN_BYTES) + "\n")
        try:
            if path.exists():  # an empty file holds no token: replace it
                os.replace(aside, path)
            else:
                os.link(aside, path)
        except FileExistsError:  # another process made it first: use theirs
            pass
        finally:
            aside.unlink(missing_ok=True)
        token = _read(path)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)  # a copied or hand-made file: owner-only, like the one written here
    return token
