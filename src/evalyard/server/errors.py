"""The server's errors, and the HTTP status of every error (mapped here, in one place).

```
EvalyardError
├── InvalidInputError ─ BadParameterError    400  a query parameter outside its allow-list
├── PageNotFoundError (also LookupError)      404  a datapoint or page that does not exist
└── RunNotFoundError (also LookupError)       404
```

(The Host allow-list answers 400 before any route runs: see :mod:`.app`.)
"""

from __future__ import annotations

from typing import ClassVar

from evalyard.errors import EvalyardError, InvalidInputError, StoreError

__all__ = ["PageNotFoundError", "status_of"]


class PageNotFoundError(EvalyardError, LookupError):
    """A page that does not exist, such as a datapoint neither run has (HTTP 404)."""

    status_code: ClassVar[int] = 404

    def __str__(self) -> str:
        # LookupError would otherwise show the message wrapped in quotes.
        return str(self.args[0])


def status_of(exc: BaseException) -> int:
    """The HTTP status of an error: from its class's ``status_code``, else its family."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status
    if isinstance(exc, InvalidInputError):
        return 400
    if isinstance(exc, LookupError):
        return 404
    if isinstance(exc, StoreError):
        return 503
    return 500
