"""Shared fixtures: the real local stack (tiny in-process models, SQLite, FAISS, a folder bucket) built once
per test session, and small helpers to make images."""

from __future__ import annotations

import io
import os
import uuid

# Two pytest workers share two cores: one OpenMP thread each (FAISS and torch) instead of oversubscribing.
os.environ.setdefault("OMP_NUM_THREADS", "1")
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def jpeg(
    color: tuple[int, int, int] = (200, 40, 40), size: tuple[int, int] = (256, 256), pattern: int = 0
) -> bytes:
    """A small JPEG; ``pattern`` draws stripes so different images embed differently."""
    image = Image.new("RGB", size, color)
    if pattern:
        for x in range(0, size[0], pattern):
            image.paste((255 - color[0], color[1], 255 - color[2]), (x, 0, x + pattern // 2, size[1]))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}


def mariadb_admin() -> pymysql.Connection:
    return pymysql.connect(**MARIADB, autocommit=True, connect_timeout=3)


@pytest.fixture(scope="session")
def mariadb_database() -> Iterator[str]:
    """A database of our own for this session (xdist workers each get one), dropped at the end."""
    try:
        admin = mariadb_admin()
    except pymysql.err.OperationalError as error:
        message = f"MariaDB unreachable at {MARIADB['host']}:{MARIADB['port']}: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (CI=true: the MySQL catalog adapter must be tested)")
        pytest.skip(message)
    name = f"vitrine_test_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def empty_mariadb(name: str) -> str:
    """(Re)create database ``name`` empty; its SQLAlchemy URL."""
    with mariadb_admin() as admin, admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    return f"mysql+pymysql://root@127.0.0.1:3306/{name}"


@pytest.fixture(scope="session")
def local_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A VITRINE_HOME for the whole session, with the environment pointing at it.

    The Lambda handlers read settings from the environment (as in Lambda), so the session sets it once.
    """
    from vitrine import wiring

    home = tmp_path_factory.mktemp("vitrine-home")
    saved = dict(os.environ)
    os.environ.update(
        {
            "VITRINE_HOME": str(home),
            "VITRINE_PROFILE": "local",
            "VITRINE_MODEL_PROFILE": "tiny",
            "POWERTOOLS_METRICS_NAMESPACE": "Vitrine",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    wiring.reset()
    from vitrine.config import settings
    from vitrine_dev.modelkit.tiny import ensure_tiny

    ensure_tiny(settings())
    yield home
    os.environ.clear()
    os.environ.update(saved)
    wiring.reset()


@pytest.fixture(scope="session")
def demo_catalog(local_home: Path) -> Path:
    """A small synthetic catalog generated and ingested through the real ingestion handler."""
    from vitrine.wiring import services
    from vitrine_dev.demo import generate
    from vitrine_dev.ingest import ingest_folder

    out = local_home / "demo"
    generate(out, products=12, street_photos=3, seed=3)
    summary = ingest_folder(out, services().store)
    assert not summary.failed_messages
    return out


@pytest.fixture(scope="session")
def stack(demo_catalog: Path):
    """The process-wide local services, with the demo catalog ingested."""
    from vitrine.wiring import services

    return services()
