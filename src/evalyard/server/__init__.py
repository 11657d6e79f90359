"""The web UI and the team server: server-rendered pages over a store, a JSON twin of each
page, and (``writable=True``) the API the SDK logs through, behind access tokens.

Example:
    >>> from evalyard.server import create_app
    >>> app = create_app("sqlite:///.evalyard/evalyard.db")  # doctest: +SKIP
    >>> # uvicorn.run(app, host="127.0.0.1", port=8000)

``evalyard ui`` does exactly that; ``evalyard server`` adds the write API and auth. The
layout: :mod:`.routes` (the URL table, with what each route needs), :mod:`.access`
(tokens, login, CSRF), :mod:`.pages`, :mod:`.api`, :mod:`.api_store` and :mod:`.api_write`
(thin handlers), :mod:`.bodies` and :mod:`.openapi` (request bodies and their schemas),
:mod:`.reader` (the store reads and their cache), :mod:`.viewmodels`, :mod:`.table`,
:mod:`.charts`, :mod:`.diff` and :mod:`.formatting` (pure), ``templates/`` and ``static/``.
"""

from __future__ import annotations

from evalyard.server.app import DEFAULT_ALLOWED_HOSTS, create_app

__all__ = ["DEFAULT_ALLOWED_HOSTS", "create_app"]
