"""The server's errors, and the HTTP status and JSON body of every error (mapped here).

```
EvalyardError
├── InvalidInputError ─ BadParameterError    400  a query parameter outside its allow-list
│   ├── QueryParameterError                   422  a query parameter outside its schema
│   ├── RequestBodyError                      422  malformed JSON, or a schema violation
│   └── (every other bad input)               422  a record, metric or name evalyard refuses
├── UndecodableBodyError                      400  an OTLP body that is not OTLP
├── AuthenticationError                       401  no token, or an unknown or revoked one
├── PermissionDeniedError                     403  a read token on a write call, another
│                                                  project named, a failed CSRF/Origin check
├── PageNotFoundError (also LookupError)      404  a datapoint or page that does not exist
├── RunNotFoundError (also LookupError)       404  also a run of a project the token does
│                                                  not open: its existence is not revealed
├── RunExistsError                            409  creating a run whose id is taken
├── RunNameTakenError                         409  creating a run whose name is taken in
│                                                  its project
├── BodyTooLargeError                         413  a request body over --max-body-bytes
├── UnsupportedMediaTypeError                 415  a JSON endpoint sent something else
├── HostNotAllowedError                       400  a Host name the server does not answer to
├── URLTooLongError                           414  a URL over 256 KiB
└── StoreError                                503  the store is unusable
```

Every error of the JSON API has one shape::

    {"error": {"status": 422, "type": "InvalidRecordError", "message": "...",
               "field": "records[3].epoch", ...}}

``type`` is the error class's name (or ``NotFound`` / ``MethodNotAllowed`` for URLs and
methods the API lacks); ``field``, ``index``, ``datapoint_id``, ``metric``, ``step`` and
``run_id`` are there when the error knows them. (The Host allow-list answers 400 before any
route runs, in this shape under ``/api/``: see :mod:`.app`.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from evalyard.errors import EvalyardError, InvalidInputError

__all__ = [
    "AuthenticationError",
    "BodyTooLargeError",
    "HostNotAllowedError",
    "PageNotFoundError",
    "PermissionDeniedError",
    "QueryParameterError",
    "RequestBodyError",
    "URLTooLongError",
    "UndecodableBodyError",
    "UnsupportedMediaTypeError",
    "error_body",
    "status_of",
]

_HTTP_TYPES = {404: "NotFound", 405: "MethodNotAllowed"}


class PageNotFoundError(EvalyardError, LookupError):
    """A page that does not exist, such as a datapoint neither run has (HTTP 404)."""

    http_status: ClassVar[int] = 404

    def __str__(self) -> str:
        # LookupError would otherwise show the message wrapped in quotes.
        return str(self.args[0])


class RequestBodyError(InvalidInputError):
    """A request body that is not JSON, or does not follow the endpoint's schema (422).

    Attributes:
        field: where in the body, such as ``records[3].epoch`` (None: the whole body).
    """

    http_status: ClassVar[int] = 422
    context: ClassVar[Mapping[str, str]] = {"field": "field"}

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class QueryParameterError(InvalidInputError):
    """A query parameter outside the schema the API documents for it (422).

    Attributes:
        parameter: the parameter's name.
    """

    http_status: ClassVar[int] = 422
    context: ClassVar[Mapping[str, str]] = {"parameter": "parameter"}

    def __init__(self, parameter: str, value: str | None, problem: str) -> None:
        if value is None:
            said = f"query parameter {parameter} is missing: {problem}"
        else:
            shown = value if len(value) <= 60 else value[:60] + "…"
            said = f"query parameter {parameter}={shown!r} does not follow its schema: {problem}"
        super().__init__(said)
        self.parameter = parameter


class HostNotAllowedError(EvalyardError):
    """A request for a Host name the server does not answer to (400)."""

    http_status: ClassVar[int] = 400


class UndecodableBodyError(EvalyardError):
    """A body that cannot be read as what its content type says: an OTLP request that is
    not an ExportTraceServiceRequest in protobuf or OTLP/JSON (400, as OTLP asks)."""

    http_status: ClassVar[int] = 400


class URLTooLongError(EvalyardError):
    """A request whose URL (path and query) is over the server's limit (414)."""

    http_status: ClassVar[int] = 414


class AuthenticationError(EvalyardError):
    """No access token, or one the server does not know (or that was revoked) (401)."""

    http_status: ClassVar[int] = 401


class PermissionDeniedError(EvalyardError):
    """A valid token that does not allow this: a read token on a write call, another
    project named explicitly, or a form without a valid CSRF token or Origin (403)."""

    http_status: ClassVar[int] = 403


class BodyTooLargeError(EvalyardError):
    """A request body over the server's limit (413).

    Attributes:
        limit: the limit, in bytes.
    """

    http_status: ClassVar[int] = 413
    context: ClassVar[Mapping[str, str]] = {"limit": "limit"}

    def __init__(self, limit: int, size: int | None = None) -> None:
        got = f" of {size:,} bytes" if size is not None else ""
        super().__init__(
            f"the request body{got} is over this server's limit of {limit:,} bytes "
            "(evalyard server --max-body-bytes); send smaller batches"
        )
        self.limit = limit


class UnsupportedMediaTypeError(EvalyardError):
    """A JSON endpoint called with another content type (415)."""

    http_status: ClassVar[int] = 415


def status_of(exc: BaseException) -> int:
    """The HTTP status of an error: its class's ``http_status`` (500 for anything else)."""
    return exc.http_status if isinstance(exc, EvalyardError) else 500


def error_body(status: int, message: str, exc: BaseException | None = None) -> dict[str, Any]:
    """The JSON body of an API error (the one shape described in the module docstring)."""
    if exc is None or not isinstance(exc, EvalyardError):
        kind = _HTTP_TYPES.get(status, "HTTPError" if status < 500 else "ServerError")
        return {"error": {"status": status, "type": kind, "message": message}}
    return {
        "error": {"status": status, "type": type(exc).__name__, "message": message, **exc.details()}
    }
