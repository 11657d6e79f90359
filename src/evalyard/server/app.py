"""The ASGI application: routes, security headers, the Host allow-list and error pages.

Example:
    >>> import uvicorn
    >>> from evalyard.server import create_app
    >>> uvicorn.run(create_app("sqlite:///runs.db"), host="127.0.0.1", port=8000)  # doctest: +SKIP

Every response carries a Content-Security-Policy that allows only our own script, style
and images (no inline script or style: every string on a page comes from users or models,
docs/reliability.md), ``X-Content-Type-Options: nosniff``, and a ``Server-Timing`` header with
the time the app took. Requests whose ``Host`` is not in the allow-list (loopback names by
default) get a 400 (the API's JSON error under ``/api/``): a page on another site cannot
reach a local evalyard through DNS rebinding. A request announcing a body over the size
limit gets a 413 before it is read, and one whose URL is over 256 KiB a 414. A 405 says in
``Allow`` every method its URL answers.

The team server (``evalyard server``) is this app with ``writable=True`` (the SDK's write
endpoints) and, off loopback or with ``--auth``, ``auth=True``: every route then needs an
access token (see :mod:`.access`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evalyard.errors import EvalyardError
from evalyard.server.access import login_page, session_of
from evalyard.server.api.bodies import DEFAULT_MAX_BODY_BYTES
from evalyard.server.api.openapi import openapi_document
from evalyard.server.api.responses import ORJSONResponse
from evalyard.server.context import context_of, make_context
from evalyard.server.errors import (
    BodyTooLargeError,
    HostNotAllowedError,
    URLTooLongError,
    error_body,
    status_of,
)
from evalyard.server.otlp import PROTOBUF_MEDIA_TYPE, encode_status
from evalyard.server.reader import Reader
from evalyard.server.routes import build_routes
from evalyard.store import Store, get_store
from evalyard.version import __version__

__all__ = ["CONTENT_SECURITY_POLICY", "DEFAULT_ALLOWED_HOSTS", "MAX_URL_BYTES", "create_app"]

#: The Content-Security-Policy of every response.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

#: Seconds a client is told to wait before trying again when the store is unavailable.
RETRY_AFTER_SECONDS = 5

#: The Host names accepted by default: loopback only.
DEFAULT_ALLOWED_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")

#: The longest URL (path and query string) answered; longer ones get a 414. The server
#: reads request heads of up to 1 MiB (``evalyard server``), so this 414 is what a client
#: of a URL up to that size gets.
MAX_URL_BYTES = 256 * 1024

STATIC_DIR = Path(__file__).parent / "web" / "static"


def _host_name(raw: str) -> str:
    """The host of a Host header, lower case, without its port (``[::1]:8000`` → ``::1``)."""
    raw = raw.strip().lower()
    if raw.startswith("["):
        return raw[1:].split("]", 1)[0]
    if raw.count(":") == 1:
        return raw.split(":", 1)[0]
    return raw


class SecurityMiddleware:
    """Refuses unknown Hosts; adds the security headers and Server-Timing to responses."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: Iterable[str],
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self.allowed = {_host_name(h) for h in allowed_hosts}
        self.any_host = "*" in self.allowed
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        host = ""
        length = b""
        for name, value in scope.get("headers", []):
            if name == b"host":
                host = value.decode("latin-1")
            elif name == b"content-length":
                length = value
        api = scope.get("path", "").startswith(("/api/", "/v1/"))
        if not self.any_host and _host_name(host) not in self.allowed:
            shown = host[:100]
            message = (
                f"Host {shown!r} is not allowed; this evalyard answers to "
                f"{', '.join(sorted(self.allowed))}. Start it with --allow-host NAME to add one."
            )
            response: Response = Response(message, status_code=400, media_type="text/plain")
            if api:
                host_error = HostNotAllowedError(message)
                response = ORJSONResponse(error_body(400, message, host_error), status_code=400)
            await self._send_with_headers(response, scope, receive, send, started)
            return
        url_size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        if url_size > MAX_URL_BYTES:
            url_error = URLTooLongError(
                f"the URL is {url_size:,} bytes long, over this server's limit of "
                f"{MAX_URL_BYTES:,}; send long lists in several requests"
            )
            response = ORJSONResponse(
                error_body(414, str(url_error), url_error),
                status_code=414,
                headers={"connection": "close"},
            )
            await self._send_with_headers(response, scope, receive, send, started)
            return
        if length.isdigit() and int(length) > self.max_body_bytes:
            error = BodyTooLargeError(self.max_body_bytes, int(length))
            response = ORJSONResponse(
                error_body(413, str(error), error), status_code=413, headers={"connection": "close"}
            )
            await self._send_with_headers(response, scope, receive, send, started)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(self._headers(started))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_wrapper)

    @staticmethod
    def _headers(started: float) -> list[tuple[bytes, bytes]]:
        elapsed = (time.perf_counter() - started) * 1000
        return [
            (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            (b"x-frame-options", b"DENY"),
            (b"server-timing", f"app;dur={elapsed:.1f}".encode()),
        ]

    async def _send_with_headers(
        self, response: Response, scope: Scope, receive: Receive, send: Send, started: float
    ) -> None:
        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message["headers"], *self._headers(started)]}
            await send(message)

        await response(scope, receive, send_wrapper)


def _templates() -> Environment:
    # Autoescape everywhere: every string a page shows comes from users or models.
    return Environment(
        loader=PackageLoader("evalyard.server.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


#: What a client is told when the store fails (the server's log says how).
STORE_UNAVAILABLE = (
    "The store is unavailable right now (its database is unreachable, full or damaged); "
    f"try again in {RETRY_AFTER_SECONDS} s. The server's log says what failed."
)

_log = logging.getLogger("evalyard.server")


def _error_response(
    request: Request, status: int, message: str, exc: Exception | None = None
) -> Response:
    headers: dict[str, str] = {}
    if status == 503:
        # The store is down or full: worth trying again soon (the SDK retries 5xx anyway).
        headers["retry-after"] = str(RETRY_AFTER_SECONDS)
    if request.url.path.startswith(("/api/", "/v1/")):
        if status == 401:
            headers["www-authenticate"] = 'Bearer realm="evalyard"'
        if request.url.path.startswith("/v1/"):
            return _otlp_error(request, status, message, exc, headers)
        return JSONResponse(error_body(status, message, exc), status_code=status, headers=headers)
    if status == 401:
        return login_page(request, status=401)
    html = (
        context_of(request)
        .templates.get_template("error.html")
        .render(
            status=status,
            message=message,
            section="",
            version=__version__,
            session=session_of(request),
        )
    )
    return HTMLResponse(html, status_code=status, headers=headers)


#: The gRPC status code of an OTLP error answer, by HTTP status.
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 413: 8, 415: 3, 422: 3, 503: 14}


def _otlp_error(
    request: Request, status: int, message: str, exc: Exception | None, headers: dict[str, str]
) -> Response:
    """An error of the OTLP endpoint as OTLP asks: a ``google.rpc.Status``, in protobuf for
    a protobuf request, else in JSON (evalyard's error object beside its code and message)."""
    code = _GRPC_CODES.get(status, 13)
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == PROTOBUF_MEDIA_TYPE:
        return Response(
            encode_status(code, message),
            status_code=status,
            headers=headers,
            media_type=PROTOBUF_MEDIA_TYPE,
        )
    body = {"code": code, "message": message, **error_body(status, message, exc)}
    return JSONResponse(body, status_code=status, headers=headers)


async def _evalyard_error(request: Request, exc: Exception) -> Response:
    status = status_of(exc)
    if status < 500:
        return _error_response(request, status, str(exc), exc)
    # The store failed: its address and the database's words are for the server's log,
    # not for whoever sent the request.
    _log.warning("%s %s: %s", request.method, request.url.path, exc)
    return _error_response(request, status, STORE_UNAVAILABLE, exc)


def _allowed_methods(request: Request) -> str:
    """Every method the request's URL answers, for the ``Allow`` of a 405."""
    found: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches({**request.scope, "method": "GET"})
            if match is not Match.NONE:
                found |= route.methods
    return ", ".join(sorted(found))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail if exc.status_code != 404 else f"There is no page at {request.url.path}."
    response = _error_response(request, exc.status_code, str(message))
    if exc.status_code == 405:
        response.headers["allow"] = _allowed_methods(request)
    return response


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    # The boundary: no traceback or stored text in the answer; the server log has it.
    message = f"The server could not answer ({type(exc).__name__}); see its log."
    return _error_response(request, 500, message)


def create_app(
    store: Store | str | None = None,
    *,
    allowed_hosts: Iterable[str] | None = None,
    cache_size: int = 8,
    writable: bool = False,
    auth: bool = False,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    session_hours: float = 12.0,
) -> Starlette:
    """The evalyard web UI over ``store`` (a store, a URL, or None for the default store).

    Args:
        store: what to serve.
        allowed_hosts: the Host names to answer (default: loopback names only); ``"*"``
            accepts any, for use behind a proxy that checks it.
        cache_size: how many comparisons to keep in memory.
        writable: also serve the SDK's write endpoints (the team server); needs an SQL
            store.
        auth: require an access token on every route but the login form and static
            files; needs an SQL store (it keeps the tokens).
        max_body_bytes: the largest request body accepted (413 above it).
        session_hours: how long a login session of the web UI lasts (with auth on).

    Raises:
        StoreError: when ``writable`` or ``auth`` is asked of a store that cannot do it.
    """
    opened = get_store(store)
    context = make_context(
        opened,
        reader=Reader(opened, cache_size=cache_size),
        templates=_templates(),
        writable=writable,
        auth=auth,
        max_body_bytes=max_body_bytes,
        session_seconds=session_hours * 3600,
        openapi=openapi_document(writable=writable),
    )
    hosts = tuple(allowed_hosts) if allowed_hosts is not None else DEFAULT_ALLOWED_HOSTS
    app = Starlette(
        routes=build_routes(STATIC_DIR, writable=writable),
        middleware=[
            Middleware(SecurityMiddleware, allowed_hosts=hosts, max_body_bytes=max_body_bytes)
        ],
        exception_handlers={
            EvalyardError: _evalyard_error,
            HTTPException: _http_error,
            Exception: _unexpected_error,
        },
    )
    app.state.context = context
    return app
