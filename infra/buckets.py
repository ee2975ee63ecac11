"""The one way Vitrine makes an S3 bucket: private, encrypted, TLS only, access-logged.

Each stack that owns buckets calls :func:`secure_bucket`, so no bucket can forget a setting. S3-managed
keys (SSE-S3) rather than KMS: S3 server access logging and S3 → SQS notifications need no key policy
plumbing, and the data is still encrypted at rest.

Buckets are retained on stack deletion and on replacement, but not when the create that made them is rolled
back (``RETAIN_ON_UPDATE_OR_DELETE``): a failed first deploy leaves no bucket behind to block the retry
(a fixed name would collide) or to bill for.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.nag import accept


def _private_bucket(scope: Construct, construct_id: str, **props: Any) -> s3.Bucket:
    """The settings no Vitrine bucket may lack, kept in one place so the log buckets cannot drift from the rest."""
    return s3.Bucket(
        scope,
        construct_id,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        removal_policy=props.pop("removal_policy", RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE),
        **props,
    )


def secure_bucket(
    scope: Construct, construct_id: str, *, access_logs: s3.IBucket | None, log_prefix: str = "", **props: Any
) -> s3.Bucket:
    """A bucket with the common safety settings; ``props`` add versioning, lifecycle rules, CORS..."""
    return _private_bucket(
        scope,
        construct_id,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=log_prefix or f"{construct_id}/",
        **props,
    )


def access_log_bucket(scope: Construct, construct_id: str, *, object_writer: bool = False) -> s3.Bucket:
    """Where the other buckets (and CloudFront, with ``object_writer``) write access logs, kept 90 days."""
    bucket = _private_bucket(
        scope,
        construct_id,
        object_ownership=s3.ObjectOwnership.OBJECT_WRITER
        if object_writer
        else s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
    )
    accept(
        bucket,
        "AwsSolutions-S1",
        "This is the access-log bucket itself; logging its own writes would loop.",
    )
    return bucket
