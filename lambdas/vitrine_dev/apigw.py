"""HTTP request ↔ API Gateway REST proxy event, so the local server runs the Lambda handler unchanged."""

from __future__ import annotations

import base64
import json
import time
import uuid
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs

from vitrine.errors import BadInput

TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded")


def to_event(method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The event API Gateway (REST, ``/{proxy+}``) would send for this request."""
    params = parse_qs(query, keep_blank_values=True)
    content_type = headers.get("content-type", headers.get("Content-Type", ""))
    is_text = not body or content_type.startswith(TEXT_TYPES)
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in params.items()} or None,
        "multiValueQueryStringParameters": params or None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": path,
            "stage": "local",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": headers.get("x-forwarded-for", "127.0.0.1")},
        },
        "body": (body.decode("utf-8", "replace") if is_text else base64.b64encode(body).decode())
        if body
        else None,
        "isBase64Encoded": bool(body) and not is_text,
    }


def from_response(response: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body bytes of a Lambda proxy response."""
    headers = dict(response.get("headers") or {})
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers[name] = ", ".join(values)
    body = response.get("body") or ""
    data = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode("utf-8")
    return int(response.get("statusCode", 500)), headers, data


def multipart_to_json(content_type: str, body: bytes) -> bytes:
    """A multipart form (``image`` file + optional ``box``, ``category``, ``k``) as the JSON body of
    ``POST /api/search``: lets a plain HTML form or curl ``-F image=@photo.jpg`` search locally."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body
    )
    if not message.is_multipart():
        raise BadInput("expected a multipart/form-data body")
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if name == "image":
            fields["image"] = base64.b64encode(payload).decode()
        elif name == "box":
            text = payload.decode().strip()
            try:
                fields["box"] = (
                    json.loads(text) if text.startswith("[") else [float(v) for v in text.split(",")]
                )
            except ValueError:
                raise BadInput("box must be [x0,y0,x1,y1] or x0,y0,x1,y1") from None
        elif name == "k":
            fields["k"] = int(payload.decode() or 5)
        elif name == "category":
            fields["category"] = payload.decode()
    if "image" not in fields:
        raise BadInput("the form has no 'image' file")
    return json.dumps(fields).encode()
