"""``vitrine serve``: the local stand-in for CloudFront + API Gateway + S3.

``/api/*`` requests become API Gateway events for :func:`handlers.api.handler` — the code Lambda runs.
Beside it, the two things S3 does in the cloud: ``GET /api/objects/<key>`` (catalog images, where the cloud
hands out presigned URLs) and ``PUT /api/uploads/<key>`` (the target of a local presigned upload). Every
other path serves ``frontend/``.
"""

from __future__ import annotations

import json
import mimetypes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from aws_lambda_powertools import Logger

from handlers import api
from vitrine.api.routes.search import UPLOAD_KEY, UPLOAD_TYPES
from vitrine.errors import BadInput, NotFound, VitrineError
from vitrine.wiring import Services
from vitrine_dev.apigw import from_response, multipart_to_json, to_event
from vitrine_dev.lambda_context import LocalContext

logger = Logger(service="vitrine-local")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob: https:; style-src 'self' 'unsafe-inline'",
}


def default_frontend_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "frontend"


class Handler(BaseHTTPRequestHandler):
    """One request; the server object carries the services and the frontend folder."""

    server: VitrineServer
    protocol_version = "HTTP/1.1"

    # -- plumbing ------------------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("http", extra={"request": self.requestline, "status": args[1] if len(args) > 1 else ""})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in {**SECURITY_HEADERS, **headers}.items():
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:  # tell keep-alive clients not to reuse this socket
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, kind: str, message: str) -> None:
        body = json.dumps({"error": kind, "message": message}).encode()
        self._send(status, body, {"Content-Type": "application/json"})

    def _body(self) -> bytes | None:
        """The request body, or None after answering 413 for one over the server's limit."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > self.server.max_body:
            self.close_connection = True  # the unread body makes the socket unusable
            self._error(413, "too_large", f"request body over {self.server.max_body // (1024 * 1024)} MiB")
            return None
        return self.rfile.read(length) if length else b""

    # -- verbs ---------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/api/objects/"):
            self._object(unquote(path.removeprefix("/api/objects/")))
        elif path.startswith("/api/"):
            self._api(b"")
        else:
            self._static(path)

    do_HEAD = do_GET

    def do_POST(self) -> None:
        body = self._body()
        if body is None:
            return
        if not self.path.startswith("/api/"):
            self._error(404, "not_found", "no such route")
            return
        content_type = self.headers.get("Content-Type", "")
        if urlsplit(self.path).path == "/api/search" and content_type.startswith("multipart/form-data"):
            try:
                body = multipart_to_json(content_type, body)
            except BadInput as error:
                self._error(400, "bad_input", error.message)
                return
            self._api(body, {"content-type": "application/json"})
            return
        self._api(body)

    def do_PUT(self) -> None:
        path = urlsplit(self.path).path
        key = unquote(path.removeprefix("/api/uploads/"))
        if not path.startswith("/api/uploads/") or not UPLOAD_KEY.match(key):
            self._error(404, "not_found", "uploads go to the URL returned by POST /api/uploads")
            return
        content_type = self.headers.get("Content-Type", "")
        if content_type not in UPLOAD_TYPES:
            self._error(415, "bad_input", f"Content-Type must be one of {', '.join(UPLOAD_TYPES)}")
            return
        body = self._body()
        if body is None:
            return
        try:
            self.server.services.uploads.accept_upload(key, body, content_type)
        except VitrineError as error:
            self._error(
                error.status_code, "too_large" if error.status_code == 413 else "bad_input", error.message
            )
            return
        self._send(204, b"", {})

    def do_DELETE(self) -> None:
        body = self._body()
        if body is not None:  # None: a 413 was already sent
            self._api(body)

    # -- targets -------------------------------------------------------------------------------------

    def _api(self, body: bytes, extra_headers: dict[str, str] | None = None) -> None:
        split = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()} | (extra_headers or {})
        event = to_event(self.command, split.path, split.query, headers, body)
        status, response_headers, data = from_response(api.handler(event, LocalContext()))
        self._send(status, data, response_headers)

    def _object(self, key: str) -> None:
        store = self.server.services.store
        try:
            info = store.head(key)
            data = store.get(key)
        except NotFound:
            self._error(404, "not_found", "no such object")
            return
        except VitrineError as error:
            self._error(
                error.status_code, "bad_input" if error.status_code < 500 else "unavailable", error.message
            )
            return
        content_type = info.content_type or mimetypes.guess_type(key)[0] or "application/octet-stream"
        self._send(200, data, {"Content-Type": content_type, "Cache-Control": "public, max-age=300"})

    def _static(self, path: str) -> None:
        root = self.server.frontend
        target = (root / unquote(path).lstrip("/")).resolve()
        if target.is_dir():
            target = target / "index.html"
        if root not in target.parents or not target.is_file():
            self._error(404, "not_found", "no such page")
            return
        content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        self._send(200, target.read_bytes(), {"Content-Type": content_type, "Cache-Control": "no-cache"})


class VitrineServer(ThreadingHTTPServer):
    """The threaded local server; each request thread gets its own API resolver (see handlers.api)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], services: Services, frontend: Path | None = None) -> None:
        super().__init__(address, Handler)
        self.services = services
        self.frontend = (frontend or default_frontend_dir()).resolve()
        self.max_body = services.settings.limits.max_image_bytes * 4 // 3 + 1024 * 1024


def serve(services: Services, host: str, port: int) -> None:
    """Serve until interrupted; prints the URL first."""
    server = VitrineServer((host, port), services)
    print(
        f"Vitrine is serving on http://{host}:{server.server_address[1]}/ (API docs: /api/docs)", flush=True
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", flush=True)
    finally:
        server.server_close()
