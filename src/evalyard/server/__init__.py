"""The web UI: server-rendered pages over a store, with a read-only JSON twin of each page.

Example:
    >>> from evalyard.server import create_app
    >>> app = create_app("sqlite:///.evalyard/evalyard.db")  # doctest: +SKIP
    >>> # uvicorn.run(app, host="127.0.0.1", port=8000)

``evalyard ui`` does exactly that. The layout: :mod:`.routes` (the URL table),
:mod:`.pages` and :mod:`.api` (thin handlers), :mod:`.reader` (the store reads and their
cache), :mod:`.viewmodels`, :mod:`.table`, :mod:`.charts`, :mod:`.diff` and
:mod:`.formatting` (pure), ``templates/`` and ``static/``.
"""

from __future__ import annotations

from evalyard.server.app import DEFAULT_ALLOWED_HOSTS, create_app

__all__ = ["DEFAULT_ALLOWED_HOSTS", "create_app"]
