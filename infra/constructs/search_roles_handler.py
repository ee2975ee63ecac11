"""CloudFormation custom resource: Vitrine's OpenSearch roles and role mappings, put through the security API.

Fine-grained access control admits a Lambda only once its IAM role is mapped to an OpenSearch role, and only
the domain's master user may write that mapping. The master user is this handler's role, so nobody has to
run awscurl from inside the VPC after a deploy. The file is sent inline (CloudFormation's ``ZipFile``), where
``cfnresponse`` is provided; it signs with the runtime's own botocore and needs no layer. Delete leaves the
mappings: the domain is retained, and a mapping of a deleted role grants nothing.
"""

import json
import urllib.error
import urllib.request

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

API = "/_plugins/_security/api"
PHYSICAL_ID = "vitrine-search-roles"


def plan(properties):
    """(path, body) of every PUT: the roles first, then the mappings that name them."""
    roles = [(f"{API}/roles/{name}", body) for name, body in properties["Roles"].items()]
    mappings = [
        (f"{API}/rolesmapping/{name}", {"backend_roles": arns})
        for name, arns in properties["Mappings"].items()
    ]
    return roles + mappings


def put(endpoint, region, path, body):
    """One SigV4-signed PUT; an HTTP error carries OpenSearch's own explanation."""
    data = json.dumps(body).encode()
    signed = AWSRequest(
        method="PUT", url=endpoint + path, data=data, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(boto3.Session().get_credentials(), "es", region).add_auth(signed)
    request = urllib.request.Request(signed.url, data=data, headers=dict(signed.headers), method="PUT")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            answer.read()
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"PUT {path}: {error.code} {error.read()[:300]!r}") from None


def handler(event, context):
    """Create and Update put everything again (PUT is idempotent); CloudFormation always gets an answer."""
    import cfnresponse

    try:
        if event["RequestType"] != "Delete":
            properties = event["ResourceProperties"]
            for path, body in plan(properties):
                put(properties["Endpoint"], properties["Region"], path, body)
        cfnresponse.send(event, context, cfnresponse.SUCCESS, {}, PHYSICAL_ID)
    except Exception as error:
        cfnresponse.send(event, context, cfnresponse.FAILED, {}, PHYSICAL_ID, reason=str(error)[:500])
