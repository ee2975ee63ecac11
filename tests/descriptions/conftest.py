"""Fixtures of the description tests: the API called through its Lambda handler on the session's local home
(tiny in-process models, SQLite, a folder bucket), with no demo catalog: each test ingests what it needs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import rest_event
from tests.conftest import jpeg


@pytest.fixture(scope="session")
def api(local_home: Path):
    """``api(method, path, body=None, headers=None) -> (status, body, headers)`` through ``handlers.api``."""
    from handlers.api import handler
    from vitrine_dev.lambda_context import LocalContext

    def invoke(method: str, path: str, body: Any = None, headers: dict[str, str] | None = None):
        response = handler(rest_event(method, path, body, None, headers), LocalContext())
        payload = json.loads(response["body"]) if response.get("body") else None
        headers = {k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items() if v}
        return response["statusCode"], payload, {**headers, **(response.get("headers") or {})}

    return invoke


@pytest.fixture(scope="session")
def operator_headers(local_home: Path) -> dict[str, str]:
    from vitrine_dev.operator_token import ensure_token

    return {"Authorization": f"Bearer {ensure_token(local_home)}"}


def product_folder(root: Path, code: str, document: dict[str, Any], photos: int = 1) -> Path:
    """``root/products/{code}/`` with ``product.json`` and ``photos`` distinct JPEGs, as `vitrine ingest` reads it."""
    folder = root / "products" / code
    folder.mkdir(parents=True)
    (folder / "product.json").write_text(json.dumps(document))
    for n in range(photos):
        (folder / f"0{n + 1}-front.jpg").write_bytes(jpeg((30 + 60 * n, 90, 200), pattern=8 + 6 * n))
    return root
