"""Bedrock permissions scoped to the configured model ids, never ``bedrock:*`` or ``foundation-model/*``.

A model id with a geography prefix (``us.``, ``eu.``, ``apac.``, ``global.``) is a cross-region inference
profile: the call is authorised on the profile in this region and on the foundation model in whichever region
the profile routes to, so that one grant has a region wildcard and nothing else.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam

PROFILE_PREFIXES = ("us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.")
ACTIONS = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
"""Converse and ConverseStream are authorised through these two actions."""


def model_arns(stack: Stack, model_id: str) -> list[str]:
    """The ARNs a call to ``model_id`` is authorised against."""
    partition = stack.partition
    if model_id.startswith(PROFILE_PREFIXES):
        base_model = model_id.split(".", 1)[1]
        return [
            f"arn:{partition}:bedrock:{stack.region}:{stack.account}:inference-profile/{model_id}",
            f"arn:{partition}:bedrock:*::foundation-model/{base_model}",
        ]
    return [f"arn:{partition}:bedrock:{stack.region}::foundation-model/{model_id}"]


def grant_invoke_models(grantee: iam.IGrantable, stack: Stack, model_ids: list[str]) -> iam.Grant:
    """Let ``grantee`` call exactly ``model_ids`` through Converse / InvokeModel."""
    arns = [arn for model_id in dict.fromkeys(model_ids) for arn in model_arns(stack, model_id)]
    return iam.Grant.add_to_principal(grantee=grantee, actions=ACTIONS, resource_arns=arns)
