"""S3Store behaviour only S3 has: browser uploads by presigned POST, presigned GETs, pagination, errors."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.stub import Stubber
from moto import mock_aws

from vitrine.adapters.aws.s3_store import S3Store
from vitrine.errors import Unavailable

BUCKET = "vitrine-uploads"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")


@pytest.fixture
def s3(aws_env: None) -> Iterator[S3Store]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield S3Store(client, BUCKET)


def test_s3_store_moto_presigned_post_uploads_from_a_browser_form(s3: S3Store) -> None:
    upload = s3.presign_upload("uploads/shopper 1.jpg", "image/jpeg", max_bytes=2048, expires_s=120)

    answer = requests.post(
        upload["url"], data=upload["fields"], files={"file": ("photo.jpg", b"\xff\xd8photo")}
    )

    assert answer.status_code == 204
    assert upload["method"] == "POST"
    assert s3.get("uploads/shopper 1.jpg") == b"\xff\xd8photo"
    assert s3.head("uploads/shopper 1.jpg").content_type == "image/jpeg"


def test_s3_store_moto_presigned_post_policy_pins_type_and_caps_size(s3: S3Store) -> None:
    # moto stores whatever is posted; S3 enforces the policy, so the policy itself is what must be right.
    upload = s3.presign_upload("uploads/q.jpg", "image/png", max_bytes=5_000_000)

    policy = json.loads(base64.b64decode(upload["fields"]["policy"]))

    assert ["content-length-range", 1, 5_000_000] in policy["conditions"]
    assert {"Content-Type": "image/png"} in policy["conditions"]
    assert {"key": "uploads/q.jpg"} in policy["conditions"]
    assert upload["fields"]["key"] == "uploads/q.jpg"


def test_s3_store_moto_url_for_is_a_presigned_get_a_browser_can_load(s3: S3Store) -> None:
    s3.put("products/P1/é 1.jpg", b"jpeg bytes", "image/jpeg")

    answer = requests.get(s3.url_for("products/P1/é 1.jpg", expires_s=60))

    assert answer.status_code == 200
    assert answer.content == b"jpeg bytes"


def test_s3_store_stubber_list_follows_continuation_tokens(aws_env: None) -> None:
    client = boto3.client("s3", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response(
            "list_objects_v2",
            {"IsTruncated": True, "NextContinuationToken": "page-2", "Contents": [{"Key": "p/a", "Size": 1}]},
            {"Bucket": BUCKET, "Prefix": "p/"},
        )
        stub.add_response(
            "list_objects_v2",
            {"IsTruncated": False, "Contents": [{"Key": "p/b", "Size": 2, "ETag": '"e2"'}]},
            {"Bucket": BUCKET, "Prefix": "p/", "ContinuationToken": "page-2"},
        )

        listed = list(S3Store(client, BUCKET).list("p/"))

    assert [(o.key, o.size, o.etag) for o in listed] == [("p/a", 1, ""), ("p/b", 2, "e2")]


def test_s3_store_stubber_access_denied_is_unavailable(aws_env: None) -> None:
    client = boto3.client("s3", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("get_object", "AccessDenied", "Access Denied", 403)

        with pytest.raises(Unavailable, match="AccessDenied"):
            S3Store(client, BUCKET).get("k")


def test_s3_store_unreachable_endpoint_is_unavailable(aws_env: None) -> None:
    client = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )

    with pytest.raises(Unavailable, match="did not answer"):
        S3Store(client, BUCKET).put("k", b"x")
