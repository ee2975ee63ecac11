"""FolderStore behaviour beyond the shared contract: upload grants, versions, files dropped in by hand."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from vitrine.adapters.local.folder_store import FolderStore
from vitrine.errors import BadInput, TooLarge


@pytest.fixture
def store(tmp_path: Path) -> FolderStore:
    return FolderStore(tmp_path / "bucket")


def test_folder_store_presign_gives_a_put_to_the_local_server(store: FolderStore) -> None:
    upload = store.presign_upload("uploads/été 1.jpg", "image/jpeg", max_bytes=10)

    assert upload == {
        "url": "/api/uploads/uploads/%C3%A9t%C3%A9%201.jpg",
        "fields": {"Content-Type": "image/jpeg"},
        "key": "uploads/été 1.jpg",
        "method": "PUT",
    }
    assert store.url_for("uploads/été 1.jpg") == "/api/objects/uploads/%C3%A9t%C3%A9%201.jpg"


def test_folder_store_accepts_an_upload_once_within_its_grant(store: FolderStore) -> None:
    store.presign_upload("uploads/q.jpg", "image/jpeg", max_bytes=10)

    info = store.accept_upload("uploads/q.jpg", b"0123456789", "image/jpeg")

    assert (info.size, store.get("uploads/q.jpg")) == (10, b"0123456789")
    with pytest.raises(BadInput, match="no valid upload URL"):
        store.accept_upload("uploads/q.jpg", b"again", "image/jpeg")


def test_folder_store_refuses_uploads_outside_the_grant(store: FolderStore) -> None:
    store.presign_upload("uploads/q.jpg", "image/jpeg", max_bytes=10)
    store.presign_upload("uploads/old.jpg", "image/jpeg", max_bytes=10, expires_s=-1)

    with pytest.raises(TooLarge):
        store.accept_upload("uploads/q.jpg", b"01234567890", "image/jpeg")
    with pytest.raises(BadInput, match="must be image/jpeg"):
        store.accept_upload("uploads/q.jpg", b"<html>", "text/html")
    with pytest.raises(BadInput, match="no valid upload URL"):
        store.accept_upload("uploads/old.jpg", b"x", "image/jpeg")
    with pytest.raises(BadInput, match="no valid upload URL"):
        store.accept_upload("uploads/never-presigned.jpg", b"x", "image/jpeg")
    assert [o.key for o in store.list()] == []


def test_folder_store_versions_increase_on_every_replacement(store: FolderStore) -> None:
    versions = [store.put("k.bin", bytes([i])).version for i in range(20)]

    assert versions == sorted(versions)
    assert len(set(versions)) == 20
    assert store.head("k.bin").version == versions[-1]


def test_folder_store_describes_files_dropped_in_by_hand(store: FolderStore) -> None:
    store.put("products/P1/a.png", b"old bytes", "image/png")
    (store.root / "products" / "P1" / "a.png").write_bytes(b"replaced by hand")
    (store.root / "products" / "P1" / "b.jpg").write_bytes(b"dropped")

    replaced, dropped = store.list("products/")

    assert replaced.etag == hashlib.md5(b"replaced by hand").hexdigest()
    assert (dropped.key, dropped.etag) == ("products/P1/b.jpg", hashlib.md5(b"dropped").hexdigest())
    assert dropped.content_type == "image/jpeg"


def test_folder_store_keeps_metadata_and_temp_files_out_of_listings(store: FolderStore) -> None:
    store.put("a.jpg", b"a")
    store.put("a.jpg", b"b")

    assert [o.key for o in store.list()] == ["a.jpg"]
    assert list((store.root / ".meta" / "tmp").iterdir()) == []


def test_folder_store_reuses_a_deleted_folder_name_as_a_file(store: FolderStore) -> None:
    store.put("a/b.jpg", b"1")

    with pytest.raises(BadInput, match="clashes"):
        store.put("a", b"2")
    store.delete("a/b.jpg")
    store.put("a", b"2")

    assert [o.key for o in store.list()] == ["a"]
