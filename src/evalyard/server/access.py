"""Who may do what: access tokens on every route, the login form, CSRF and Origin checks.

Every route of :mod:`.routes` declares what it needs — ``public`` (the login form, static
files), ``read`` or ``write`` — and runs behind :func:`guarded`, so a new route cannot be
left open by forgetting a check. With auth off (a loopback server without ``--auth``)
every caller holds :data:`OPEN_GRANT`.

With auth on:

- The API takes ``Authorization: Bearer TOKEN``. A page (and any GET) also takes the
  session cookie the login form sets: a random session id, not the token, ``HttpOnly`` (no
  script reads it) and ``SameSite=Strict`` (no other site's page sends it). The store keeps
  only its SHA-256, the token it was opened with and when it expires (``--session-hours``);
  logging out deletes it, and revoking the token ends it. Calls that change state take only
  the header, so a cookie can never be replayed into a write.
- Missing or unknown token: 401. A read token on a write call: 403. A token limited to a
  project that names another project explicitly (creating a run, metric definitions): 403.
  A run of another project: 404, as if it did not exist (its id reveals nothing).
- The login and logout forms carry a CSRF token (a cookie matched by a hidden field, then
  one derived from the session) and are refused when their ``Origin`` is another site.
  Any state-changing request whose ``Origin`` is another site is refused too.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from evalyard.core.model import RunInfo
from evalyard.errors import RunNotFoundError
from evalyard.server.api.bodies import FORM_MEDIA_TYPE, JSON_MEDIA_TYPE, read_body
from evalyard.server.context import context_of
from evalyard.server.errors import AuthenticationError, PermissionDeniedError
from evalyard.server.tokens import hash_token
from evalyard.store.base import Store
from evalyard.version import __version__

__all__ = [
    "CSRF_COOKIE",
    "MAX_KNOWN_RUNS",
    "OPEN_GRANT",
    "SESSION_COOKIE",
    "Access",
    "Grant",
    "check_project",
    "grant_of",
    "guarded",
    "login_form",
    "login_submit",
    "logout_submit",
    "session_of",
    "visible_run",
    "visible_run_id",
]

Access = Literal["public", "read", "write"]
Endpoint = Callable[[Request], Response]

SESSION_COOKIE = "evalyard_session"
CSRF_COOKIE = "evalyard_csrf"
_FORM_LIMIT = 16 * 1024
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True, slots=True)
class Grant:
    """What the caller of a request may do."""

    scope: str
    """``read`` or ``write`` (which also reads)."""
    project: str | None
    """The one project the caller may see, or None for every project."""
    token_id: str | None = None
    """The public id of the caller's token (None with auth off)."""


#: The grant of every caller when auth is off.
OPEN_GRANT = Grant("write", None)


def grant_of(request: Request) -> Grant:
    """The grant :func:`guarded` found for this request."""
    grant = getattr(request.state, "grant", None)
    return grant if isinstance(grant, Grant) else OPEN_GRANT


def visible_run(store: Store, run_id: str, grant: Grant) -> RunInfo:
    """The run, if the grant may see it; a run of another project is not found (404)."""
    info = store.get_run(run_id)
    if grant.project is not None and info.project != grant.project:
        raise RunNotFoundError(run_id)
    return info


#: Runs whose project :func:`visible_run_id` keeps at most, per process.
MAX_KNOWN_RUNS = 100_000


def visible_run_id(request: Request, run_id: str) -> str:
    """The id of the run, if the caller's grant may see it, as :func:`visible_run` says,
    without reading the run itself once this process has found it.

    A batch needs only that its run exists and is of a project the grant opens; reading
    the run (:meth:`~evalyard.store.base.Store.get_run`) also counts a running run's
    results, which on SQLite takes time in proportion to them (about 40 ms per batch in
    a run of 200,000 results). A run is never deleted and never changes project, so its
    project, found once, holds for every later batch; the write itself still finds the
    run in its own transaction, or refuses the batch.
    """
    known = context_of(request).run_projects
    project = known.get(run_id)
    if project is None:
        info = context_of(request).store.get_run(run_id)
        if len(known) >= MAX_KNOWN_RUNS:
            known.clear()
        known[info.run_id] = project = info.project
        run_id = info.run_id
    grant = grant_of(request)
    if grant.project is not None and project != grant.project:
        raise RunNotFoundError(run_id)
    return run_id


def check_project(grant: Grant, project: str) -> None:
    """Refuse (403) a project the grant does not open, named explicitly by the caller."""
    if grant.project is not None and project != grant.project:
        raise PermissionDeniedError(
            f"this token opens project {grant.project!r} only, not {project!r}"
        )


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthenticationError(
            "the Authorization header must be 'Bearer TOKEN' (a token from 'evalyard token create')"
        )
    return value.strip()


def authorize(request: Request, access: Access) -> Grant:
    """The caller's grant for a route needing ``access`` (blocking: reads the store).

    Raises:
        AuthenticationError: no token, or an unknown or revoked one (401).
        PermissionDeniedError: a read token where ``write`` is needed (403).
    """
    context = context_of(request)
    if access == "public" or context.tokens is None:
        return OPEN_GRANT
    secret = _bearer(request)
    session = None
    if secret is None and request.method in _SAFE_METHODS:
        session = request.cookies.get(SESSION_COOKIE)
    if not secret and not session:
        raise AuthenticationError(
            "this evalyard server needs an access token: send 'Authorization: Bearer TOKEN' "
            "(the SDK sends EVALYARD_TOKEN), or log in at /login"
        )
    if session:
        info = context.tokens.find_session(hash_token(session))
        if info is None:
            raise AuthenticationError(
                "your login session has ended (logged out, expired, or its token revoked); "
                "log in again at /login"
            )
    else:
        info = context.tokens.find_token(hash_token(secret or ""))
        if info is None:
            raise AuthenticationError(
                "the access token is not valid (unknown or revoked); ask for a new one "
                "('evalyard token create' on the server's store)"
            )
    if access == "write" and info.scope != "write":
        raise PermissionDeniedError(
            f"token {info.token_id} is read-only; this call needs a write token"
        )
    return Grant(info.scope, info.project, info.token_id)


def _check_origin(request: Request) -> None:
    """Refuse a state-changing request sent by a page of another site."""
    origin = request.headers.get("origin")
    if origin is None:
        # Not a browser, or an old one: browsers send Origin on cross-site POSTs.
        fetch_site = request.headers.get("sec-fetch-site")
        if fetch_site is not None and fetch_site not in ("same-origin", "none"):
            raise PermissionDeniedError(f"a {fetch_site} request cannot change anything here")
        return
    host = request.headers.get("host", "")
    if urlsplit(origin).netloc.lower() != host.lower():
        raise PermissionDeniedError(
            f"a request from {origin[:100]!r} cannot change anything on this server "
            "(its Origin is another site)"
        )


def guarded(
    endpoint: Endpoint,
    access: Access,
    *,
    body: bool = False,
    media_types: tuple[str, ...] = (JSON_MEDIA_TYPE,),
) -> Callable[[Request], Awaitable[Response]]:
    """``endpoint`` behind the access check; with ``body``, its body (JSON unless
    ``media_types`` says otherwise) read first.

    The endpoint is a plain function run in a worker thread (store calls block); it finds
    the grant with :func:`grant_of` and the raw body in ``request.state.body``.
    """

    async def handle(request: Request) -> Response:
        if request.method not in _SAFE_METHODS:
            _check_origin(request)
        request.state.grant = await run_in_threadpool(authorize, request, access)
        request.state.body = b""
        if body:
            request.state.body = await read_body(
                request, media_type=media_types, limit=context_of(request).max_body_bytes
            )
        return await run_in_threadpool(endpoint, request)

    handle.__name__ = getattr(endpoint, "__name__", "endpoint")
    handle.__doc__ = endpoint.__doc__
    handle.evalyard_access = access  # type: ignore[attr-defined]
    return handle


# -- the login form ----------------------------------------------------------------------


def _session_csrf(secret: str) -> str:
    # Derived from the session's random id: another site cannot compute it, and every
    # server process derives the same one.
    return hmac.new(secret.encode("utf-8"), b"evalyard-csrf", hashlib.sha256).hexdigest()[:32]


def session_of(request: Request) -> dict[str, str] | None:
    """What a page needs to draw the logout button: None without a login session."""
    if not context_of(request).auth:
        return None
    secret = request.cookies.get(SESSION_COOKIE)
    return None if not secret else {"csrf": _session_csrf(secret)}


def _safe_next(value: str | None) -> str:
    # Only a path on this server: never "//other.site" or "https://other.site".
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/experiments"
    return value


def _render_login(
    request: Request, *, status: int, message: str | None, next_path: str, csrf: str
) -> Response:
    html = (
        context_of(request)
        .templates.get_template("login.html")
        .render(
            section="",
            version=__version__,
            session=None,
            message=message,
            next_path=next_path,
            csrf=csrf,
        )
    )
    response = HTMLResponse(html, status_code=status)
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


def login_page(request: Request, *, status: int = 200, message: str | None = None) -> Response:
    """The login form (also the answer, with 401, to a page asked for without a token)."""
    csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_hex(16)
    next_path = request.query_params.get("next") if request.url.path == "/login" else None
    if next_path is None and request.url.path != "/login":
        next_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return _render_login(
        request, status=status, message=message, next_path=_safe_next(next_path), csrf=csrf
    )


def login_form(request: Request) -> Response:
    """``GET /login``: the form (or, with auth off, the Experiments page)."""
    if not context_of(request).auth:
        return RedirectResponse("/experiments", status_code=302)
    return login_page(request)


async def _form(request: Request) -> dict[str, str]:
    raw = await read_body(request, media_type=FORM_MEDIA_TYPE, limit=_FORM_LIMIT)
    fields = parse_qs(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items() if values}


async def login_submit(request: Request) -> Response:
    """``POST /login``: check the form's CSRF token and the access token; open a session.

    The cookie carries a new random session id, never the token; the store keeps the id's
    SHA-256, the token's id and when the session expires.
    """
    if not context_of(request).auth:
        return RedirectResponse("/experiments", status_code=303)
    _check_origin(request)
    fields = await _form(request)
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(fields.get("csrf", ""), cookie):
        raise PermissionDeniedError(
            "the login form expired or came from another site; open /login and try again"
        )
    secret = fields.get("token", "").strip()
    next_path = _safe_next(fields.get("next"))
    tokens = context_of(request).tokens
    found = tokens.find_token if tokens is not None else None
    info = await run_in_threadpool(found, hash_token(secret)) if secret and found else None
    if info is None:
        return _render_login(
            request,
            status=401,
            message="That token is not valid (unknown or revoked).",
            next_path=next_path,
            csrf=cookie,
        )
    assert tokens is not None
    session = secrets.token_urlsafe(32)
    lasts = context_of(request).session_seconds
    await run_in_threadpool(
        tokens.add_session,
        session_hash=hash_token(session),
        token_id=info.token_id,
        expires_at=time.time() + lasts,
    )
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session,
        max_age=max(1, int(lasts)),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


async def logout_submit(request: Request) -> Response:
    """``POST /logout``: end the session in the store and forget its cookie (the form
    carries the session's CSRF token)."""
    _check_origin(request)
    fields = await _form(request)
    secret = request.cookies.get(SESSION_COOKIE)
    if secret and not hmac.compare_digest(fields.get("csrf", ""), _session_csrf(secret)):
        raise PermissionDeniedError("the logout form came from another site; nothing was done")
    tokens = context_of(request).tokens
    if secret and tokens is not None:
        await run_in_threadpool(tokens.end_session, hash_token(secret))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
