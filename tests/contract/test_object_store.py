"""The ObjectStore contract, run against every adapter that runs here: a folder, and S3 under moto.

Given a store, When objects are put, replaced, listed and deleted, Then both adapters answer the same way,
so a pipeline tested against the folder behaves the same on the bucket.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from vitrine.adapters.aws.s3_store import S3Store
from vitrine.adapters.local.folder_store import FolderStore
from vitrine.errors import BadInput, NotFound
from vitrine.kernel.ports import ObjectStore

BUCKET = "vitrine-contract"


@pytest.fixture(params=["folder", "s3-moto"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ObjectStore]:
    if request.param == "folder":
        yield FolderStore(tmp_path / "bucket")
        return
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        # The catalog bucket is versioned, which is what gives each replacement a new version.
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield S3Store(client, BUCKET)


def test_store_is_an_object_store(store: ObjectStore) -> None:
    assert isinstance(store, ObjectStore)
    assert store.name


def test_put_then_get_and_head_describe_the_bytes(store: ObjectStore) -> None:
    data = b"\xff\xd8 a jpeg, more or less"
    info = store.put("products/P1/front.jpg", data, "image/jpeg")

    assert store.get("products/P1/front.jpg") == data
    head = store.head("products/P1/front.jpg")
    assert (head.key, head.size, head.content_type) == ("products/P1/front.jpg", len(data), "image/jpeg")
    assert head.etag == info.etag == hashlib.md5(data).hexdigest()
    assert head.version == info.version != ""


def test_replacing_an_object_changes_etag_and_version(store: ObjectStore) -> None:
    first = store.put("products/P1/front.jpg", b"old", "image/jpeg")
    second = store.put("products/P1/front.jpg", b"new", "image/png")

    assert store.get("products/P1/front.jpg") == b"new"
    assert second.etag != first.etag
    assert second.version != first.version
    assert store.head("products/P1/front.jpg").content_type == "image/png"


def test_missing_object_is_not_found_and_deleting_it_is_fine(store: ObjectStore) -> None:
    with pytest.raises(NotFound):
        store.get("products/nope.jpg")
    with pytest.raises(NotFound):
        store.head("products/nope.jpg")
    store.delete("products/nope.jpg")


def test_delete_removes_the_object_from_get_and_list(store: ObjectStore) -> None:
    store.put("products/P1/a.jpg", b"a")
    store.put("products/P1/b.jpg", b"b")

    store.delete("products/P1/a.jpg")

    with pytest.raises(NotFound):
        store.get("products/P1/a.jpg")
    assert [o.key for o in store.list("products/")] == ["products/P1/b.jpg"]


def test_list_is_in_key_order_with_plain_string_prefixes(store: ObjectStore) -> None:
    for key in (
        "products/a10/x.jpg",
        "products/a1/z.jpg",
        "products/a1/y.jpg",
        "productsX/q.jpg",
        "hotels/1.jpg",
    ):
        store.put(key, key.encode())

    assert [o.key for o in store.list("products/a1")] == [
        "products/a1/y.jpg",
        "products/a1/z.jpg",
        "products/a10/x.jpg",
    ]
    assert [o.key for o in store.list("products/")] == [
        "products/a1/y.jpg",
        "products/a1/z.jpg",
        "products/a10/x.jpg",
    ]
    everything = list(store.list())
    assert [o.key for o in everything] == sorted(o.key for o in everything)
    assert len(everything) == 5
    listed = {o.key: o for o in everything}["hotels/1.jpg"]
    assert (listed.size, listed.etag) == (len(b"hotels/1.jpg"), hashlib.md5(b"hotels/1.jpg").hexdigest())
    assert list(store.list("nothing-here/")) == []


@pytest.mark.parametrize("key", ["products/été 2024/robe à fleurs.jpg", "hotels/東京 1/lobby (2).png"])
def test_keys_with_unicode_and_spaces_round_trip(store: ObjectStore, key: str) -> None:
    store.put(key, b"pixels", "image/jpeg")

    assert store.get(key) == b"pixels"
    assert [o.key for o in store.list(key.split("/")[0] + "/")] == [key]


def test_presigned_upload_names_the_key_url_and_method(store: ObjectStore) -> None:
    upload = store.presign_upload("uploads/q1.jpg", "image/jpeg", max_bytes=1024, expires_s=60)

    assert upload["key"] == "uploads/q1.jpg"
    assert upload["method"] in ("PUT", "POST")
    assert upload["url"]
    assert upload["fields"]["Content-Type"] == "image/jpeg"


def test_url_for_points_at_the_object(store: ObjectStore) -> None:
    store.put("products/P1/a b.jpg", b"a")

    assert "products/P1/a%20b.jpg" in store.url_for("products/P1/a b.jpg")


@pytest.mark.parametrize(
    "key", ["../outside.jpg", "products/../../etc/passwd", "/etc/passwd", "a//b.jpg", "", "a/./b", ".meta/x"]
)
def test_folder_store_refuses_keys_that_leave_the_folder(tmp_path: Path, key: str) -> None:
    store = FolderStore(tmp_path / "bucket")

    for call in (lambda: store.put(key, b"x"), lambda: store.get(key), lambda: store.delete(key)):
        with pytest.raises(BadInput):
            call()
    assert not (tmp_path / "outside.jpg").exists()
