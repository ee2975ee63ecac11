"""``vitrine serve``: the local stand-in for CloudFront + API Gateway + S3.

HTTP is handled by waitress, a maintained pure-Python WSGI server: it parses requests (chunked bodies
included), refuses bodies over the limit (413) and malformed requests such as ``Content-Length: abc`` (400)
before they reach Vitrine, and closes connections that stall for ``channel_timeout_s``. Its own refusals are
answered with Vitrine's JSON error body, like every other refusal.

Behind it, :class:`LocalApp` (WSGI) sends ``/api/*`` requests, as API Gateway events built by
:mod:`vitrine_dev.apigw`, to :func:`handlers.api.handler` — the code Lambda runs. Beside it, the two things
S3 does in the cloud: ``GET /api/objects/<key>`` (catalog images, where the cloud hands out presigned URLs)
and ``PUT /api/uploads/<key>`` (the target of a local presigned upload). Every other path serves
``frontend/``.
"""

from __future__ import annotations

import contextlib
import json
import mimetypes
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ErrorTask

from handlers import api
from vitrine.api.auth import token_path
from vitrine.api.routes.search import UPLOAD_KEY, UPLOAD_TYPES
from vitrine.errors import BadInput, NotFound, VitrineError
from vitrine.wiring import Services
from vitrine_dev.apigw import event_from_wsgi, from_response, multipart_to_json, status_line, wsgi_path
from vitrine_dev.lambda_context import LocalContext
from vitrine_dev.operator_token import ensure_token

logger = Logger(service="vitrine-local")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob: https:; style-src 'self' 'unsafe-inline'",
}
CHANNEL_TIMEOUT_S = 20
"""A connection that sends nothing for this long (a stalled body, an idle keep-alive) is closed."""
THREADS = 4

Answer = tuple[int, list[tuple[str, str]], bytes]
StartResponse = Callable[..., Any]


def default_frontend_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "frontend"


def max_body_bytes(services: Services) -> int:
    """The largest request body: an inline photo at the image limit as base64, plus room for the JSON."""
    return services.settings.limits.max_image_bytes * 4 // 3 + 1024 * 1024


def error_answer(status: int, kind: str, message: str) -> Answer:
    body = json.dumps({"error": kind, "message": message}).encode()
    return status, [("Content-Type", "application/json")], body


def _kind(status: int) -> str:
    return {401: "unauthorized", 403: "forbidden", 404: "not_found", 413: "too_large"}.get(
        status, "bad_input" if status < 500 else "unavailable" if status == 503 else "internal"
    )


class LocalApp:
    """The WSGI application: the Lambda handler for ``/api/*``, the local object store, the page."""

    def __init__(self, services: Services, frontend: Path | None = None) -> None:
        self.services = services
        self.frontend = (frontend or default_frontend_dir()).resolve()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            status, headers, body = self.dispatch(environ)
        except Exception:
            logger.exception("local server error")
            status, headers, body = error_answer(500, "internal", "Something went wrong on our side.")
        names = {name.lower() for name, _ in headers}
        headers = [
            *((k, v) for k, v in SECURITY_HEADERS.items() if k.lower() not in names),
            *((k, v) for k, v in headers if k.lower() != "content-length"),
            ("Content-Length", str(len(body))),
        ]
        start_response(status_line(status), headers)
        return [b""] if environ["REQUEST_METHOD"] == "HEAD" else [body]

    def dispatch(self, environ: dict[str, Any]) -> Answer:
        method, path = environ["REQUEST_METHOD"], wsgi_path(environ)
        if path.startswith("/api/objects/") and method in ("GET", "HEAD"):
            return self._object(path.removeprefix("/api/objects/"))
        if path.startswith("/api/uploads/") and method == "PUT":
            return self._upload(environ, path.removeprefix("/api/uploads/"))
        if path.startswith("/api/"):
            return self._api(environ)
        if method in ("GET", "HEAD"):
            return self._static(path)
        return error_answer(404, "not_found", "no such route")

    @staticmethod
    def _body(environ: dict[str, Any]) -> bytes:
        """The whole body: waitress has received it (and de-chunked it) and checked its size already."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        return environ["wsgi.input"].read(length) if length > 0 else b""

    def _api(self, environ: dict[str, Any]) -> Answer:
        body = self._body(environ)
        content_type = environ.get("CONTENT_TYPE", "")
        extra: dict[str, str] = {}
        if wsgi_path(environ) == "/api/search" and content_type.startswith("multipart/form-data"):
            try:
                body = multipart_to_json(content_type, body)
            except BadInput as error:
                return error_answer(error.status_code, _kind(error.status_code), error.message)
            extra = {"content-type": "application/json"}
        event = event_from_wsgi(environ, body, extra)
        return from_response(api.handler(event, LocalContext()))

    def _upload(self, environ: dict[str, Any], key: str) -> Answer:
        if not UPLOAD_KEY.match(key):
            return error_answer(404, "not_found", "uploads go to the URL returned by POST /api/uploads")
        content_type = environ.get("CONTENT_TYPE", "")
        if content_type not in UPLOAD_TYPES:
            return error_answer(415, "bad_input", f"Content-Type must be one of {', '.join(UPLOAD_TYPES)}")
        try:
            self.services.uploads.accept_upload(key, self._body(environ), content_type)
        except VitrineError as error:
            return error_answer(error.status_code, _kind(error.status_code), error.message)
        return 204, [], b""

    def _object(self, key: str) -> Answer:
        store = self.services.store
        try:
            info = store.head(key)
            data = store.get(key)
        except NotFound:
            return error_answer(404, "not_found", "no such object")
        except VitrineError as error:
            return error_answer(error.status_code, _kind(error.status_code), error.message)
        content_type = info.content_type or mimetypes.guess_type(key)[0] or "application/octet-stream"
        return 200, [("Content-Type", content_type), ("Cache-Control", "public, max-age=300")], data

    def _static(self, path: str) -> Answer:
        root = self.frontend
        try:
            target = (root / path.lstrip("/")).resolve()
            if target.is_dir():
                target = target / "index.html"
            found = root in target.parents and target.is_file()
        except (OSError, ValueError):  # a NUL byte, a name too long...
            found = False
        if not found:
            return error_answer(404, "not_found", "no such page")
        content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return 200, [("Content-Type", content_type), ("Cache-Control", "no-cache")], target.read_bytes()


class JsonErrorTask(ErrorTask):
    """Waitress's own refusals (malformed request, body too large, bad chunking) as Vitrine's JSON errors."""

    def execute(self) -> None:
        error = self.request.error
        if error.code == 413:
            limit = self.channel.server.adj.max_request_body_size
            message = f"request body over {limit / (1024 * 1024):.0f} MiB"
        else:
            message = f"{error.reason}: {error.body}"
        _, _, body = error_answer(error.code, _kind(error.code), message)
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend([("Content-Type", "application/json"), *SECURITY_HEADERS.items()])
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    error_task_class = JsonErrorTask


class LocalServer:
    """Waitress serving :class:`LocalApp`; :meth:`run` blocks, :meth:`start` runs it on a daemon thread."""

    def __init__(
        self,
        services: Services,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        frontend: Path | None = None,
        channel_timeout_s: int = CHANNEL_TIMEOUT_S,
        threads: int = THREADS,
    ) -> None:
        self.services = services
        self.app = LocalApp(services, frontend)
        self.operator_token = ensure_token(services.settings.home.resolve())
        self._map: dict[int, Any] = {}
        self.server = create_server(
            self.app,
            map=self._map,
            host=host,
            port=port,
            threads=threads,
            channel_timeout=channel_timeout_s,
            cleanup_interval=max(1, min(5, channel_timeout_s // 2)),
            max_request_body_size=max_body_bytes(services),
            ident="vitrine-local",
            expose_tracebacks=False,
        )
        self.listening: list[tuple[str, int]] = []
        for dispatcher in list(self._map.values()):
            if isinstance(dispatcher, BaseWSGIServer):
                dispatcher.channel_class = JsonErrorChannel  # looked up per accepted connection
                self.listening.append((dispatcher.effective_host, dispatcher.effective_port))
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def address(self) -> tuple[str, int]:
        """The first (host, port) listened on: the port is the real one when 0 was asked for."""
        return self.listening[0]

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/"

    def run(self) -> None:
        """Serve until :meth:`close` (from another thread) or an interrupt; then close every socket here,
        on the thread that polls them."""
        adj = self.server.adj
        try:
            while not self._stop.is_set() and self._map:
                wasyncore.loop(
                    timeout=adj.asyncore_loop_timeout, map=self._map, use_poll=adj.asyncore_use_poll, count=1
                )
        finally:
            self.server.task_dispatcher.shutdown(timeout=5)
            wasyncore.close_all(self._map)

    def start(self) -> LocalServer:
        self._thread = threading.Thread(target=self.run, name="vitrine-local-server", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is None:
            self.server.task_dispatcher.shutdown(timeout=5)
            wasyncore.close_all(self._map)
            return
        for dispatcher in list(self._map.values()):
            if isinstance(dispatcher, BaseWSGIServer):
                with contextlib.suppress(OSError):
                    dispatcher.pull_trigger()  # wakes the poll, which then sees the stop flag
                break
        self._thread.join(timeout=10)


def serve(services: Services, host: str, port: int) -> None:
    """Serve until interrupted; prints the URL and the operator token first."""
    server = LocalServer(services, host, port)
    print(f"Vitrine is serving on {server.url} (API docs: /api/docs)", flush=True)
    print(
        f"Operator token (the page's operator area asks for it once): {server.operator_token}  "
        f"[{token_path(services.settings.home.resolve())}]",
        flush=True,
    )
    try:
        server.run()  # closes its sockets when it ends
    except KeyboardInterrupt:
        print("stopped", flush=True)
