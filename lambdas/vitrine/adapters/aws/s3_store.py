"""The cloud object store: an S3 bucket through an injected boto3 client.

The client is injected (not built here) so the wiring decides region, retries and timeouts once, and tests
can hand in a moto-backed client. Every S3 failure becomes a domain error: a missing key is
:class:`~vitrine.errors.NotFound`; anything else (access denied, throttling, no answer) is
:class:`~vitrine.errors.Unavailable`, because the caller can do nothing better than retry or report it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError

from vitrine.adapters.aws.errors import TRANSPORT_ERRORS, error_code, error_message, no_answer
from vitrine.errors import NotFound, Unavailable
from vitrine.kernel.types import ObjectInfo

MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
"""GET answers NoSuchKey; HEAD has no body, so botocore only has the status code."""


def _etag(raw: str) -> str:
    """S3 quotes its ETags; the other store does not, and callers compare them."""
    return raw.strip('"')


class S3Store:
    """:class:`~vitrine.kernel.ports.ObjectStore` on one S3 bucket.

    ``version`` is the object's VersionId, so it changes on every replacement only when the bucket has
    versioning enabled (the infrastructure enables it); on an unversioned bucket it is empty.
    """

    def __init__(self, client: Any, bucket: str, name: str | None = None) -> None:
        self._client = client
        self.bucket = bucket
        self.name = name or f"s3://{bucket}"

    @contextmanager
    def _mapped(self, key: str) -> Iterator[None]:
        try:
            yield
        except ClientError as error:
            if error_code(error) in MISSING_CODES:
                raise NotFound(f"no object {key!r} in {self.name}") from None
            raise Unavailable(f"{self.name}: {error_code(error)}: {error_message(error)}") from error
        except TRANSPORT_ERRORS as error:
            raise no_answer(self.name, error) from error

    def get(self, key: str) -> bytes:
        with self._mapped(key):
            return self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> ObjectInfo:
        with self._mapped(key):
            answer = self._client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        return ObjectInfo(
            key=key,
            size=len(data),
            etag=_etag(answer.get("ETag", "")),
            version=answer.get("VersionId", ""),
            content_type=content_type,
        )

    def head(self, key: str) -> ObjectInfo:
        with self._mapped(key):
            answer = self._client.head_object(Bucket=self.bucket, Key=key)
        return ObjectInfo(
            key=key,
            size=answer["ContentLength"],
            etag=_etag(answer.get("ETag", "")),
            version=answer.get("VersionId", ""),
            content_type=answer.get("ContentType", ""),
        )

    def delete(self, key: str) -> None:
        with self._mapped(key):
            self._client.delete_object(Bucket=self.bucket, Key=key)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under ``prefix``, page by page; S3 lists no content type or version (use head)."""
        pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        with self._mapped(prefix):
            for page in pages:
                for item in page.get("Contents", []):
                    yield ObjectInfo(key=item["Key"], size=item["Size"], etag=_etag(item.get("ETag", "")))

    def presign_upload(
        self, key: str, content_type: str, max_bytes: int, expires_s: int = 300
    ) -> dict[str, Any]:
        """A browser form POST straight to S3, whose policy pins the content type and caps the size."""
        with self._mapped(key):
            post = self._client.generate_presigned_post(
                Bucket=self.bucket,
                Key=key,
                Fields={"Content-Type": content_type},
                Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
                ExpiresIn=expires_s,
            )
        return {"url": post["url"], "fields": post["fields"], "key": key, "method": "POST"}

    def url_for(self, key: str, expires_s: int = 3600) -> str:
        """A presigned GET: the bucket stays private, the browser still loads the image."""
        with self._mapped(key):
            return self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_s
            )
