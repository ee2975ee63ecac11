"""WSGI request ↔ API Gateway REST proxy event, so the local server runs the Lambda handler unchanged.

The WSGI server (waitress) has already parsed the HTTP: the request line, headers, ``Content-Length`` or
chunked transfer coding, and the size limit. This module only reshapes the result into the event API
Gateway would send for ``/{proxy+}``, and a Lambda proxy response back into WSGI status, headers and body.
"""

from __future__ import annotations

import base64
import io
import json
import time
import uuid
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header

from vitrine.errors import BadInput, TooLarge

TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded")
MAX_FORM_FIELD_BYTES = 64 * 1024
MAX_FORM_PARTS = 16
SEARCH_FORM_FIELDS = {"image", "box", "k", "category"}


def wsgi_path(environ: dict[str, Any]) -> str:
    """``PATH_INFO`` as text: WSGI carries the (percent-decoded) path bytes as a latin-1 string."""
    return environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace") or "/"


def wsgi_headers(environ: dict[str, Any]) -> dict[str, str]:
    """The request headers, names lower-cased (API Gateway keeps the client's case; Powertools reads them
    case-insensitively)."""
    headers = {
        key[5:].replace("_", "-").lower(): value.encode("latin-1").decode("utf-8", "replace")
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    return headers


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


def event_from_wsgi(
    environ: dict[str, Any], body: bytes, extra_headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """:func:`to_event` for a WSGI request whose body has been read."""
    headers = wsgi_headers(environ) | (extra_headers or {})
    if extra_headers and body:
        headers["content-length"] = str(len(body))
    return to_event(
        environ["REQUEST_METHOD"], wsgi_path(environ), environ.get("QUERY_STRING", ""), headers, body
    )


def from_response(response: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, header pairs and body bytes of a Lambda proxy response (multi-value headers one pair each)."""
    headers = [(name, str(value)) for name, value in (response.get("headers") or {}).items()]
    single = {name.lower() for name, _ in headers}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        if name.lower() not in single:
            headers.extend((name, str(value)) for value in values)
    body = response.get("body") or ""
    data = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode("utf-8")
    return int(response.get("statusCode", 500)), headers, data


def status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def _text_field(name: str, value: str) -> str:
    if "\ufffd" in value:  # the parser replaced bytes that are not text in the part's charset
        raise BadInput(f"form field '{name}' is not UTF-8 text")
    return value.strip()


def multipart_to_json(content_type: str, body: bytes) -> bytes:
    """A multipart form (``image`` file + optional ``box``, ``category``, ``k``) as the JSON body of
    ``POST /api/search``: lets a plain HTML form or curl ``-F image=@photo.jpg`` search locally.

    Werkzeug's multipart parser reads the parts; any part it cannot parse, an unknown or non-text field,
    or a value of the wrong shape is :class:`BadInput` (400), a field over 64 KiB :class:`TooLarge`."""
    mimetype, options = parse_options_header(content_type)
    parser = FormDataParser(
        max_form_memory_size=MAX_FORM_FIELD_BYTES, max_form_parts=MAX_FORM_PARTS, silent=False
    )
    try:
        _, form, files = parser.parse(io.BytesIO(body), mimetype, len(body), options)
    except RequestEntityTooLarge:
        raise TooLarge(
            f"a form field is over {MAX_FORM_FIELD_BYTES // 1024} KiB or the form has too many parts"
        ) from None
    except ValueError as error:
        raise BadInput(f"the multipart form cannot be parsed: {error}") from None
    unknown = (set(form) | set(files)) - SEARCH_FORM_FIELDS
    if unknown:
        raise BadInput(f"unknown form fields: {', '.join(sorted(unknown))} (send image, box, k, category)")
    image = files.get("image")
    data = image.read() if image is not None else b""
    if not data:
        raise BadInput("the form has no 'image' file")
    fields: dict[str, Any] = {"image": base64.b64encode(data).decode()}
    if "box" in form:
        text = _text_field("box", form["box"])
        try:
            box = json.loads(text) if text.startswith("[") else [float(v) for v in text.split(",")]
        except (ValueError, RecursionError):
            raise BadInput("box must be [x0,y0,x1,y1] or x0,y0,x1,y1") from None
        fields["box"] = box
    if "k" in form:
        text = _text_field("k", form["k"])
        if not (text.isascii() and text.isdigit()):
            raise BadInput("k must be a whole number")
        fields["k"] = int(text)
    if "category" in form:
        fields["category"] = _text_field("category", form["category"])
    return json.dumps(fields).encode()
