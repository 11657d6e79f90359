"""Access tokens of the team server: made here, shown once, stored only as a hash.

Example:
    >>> from evalyard.server.tokens import create_token
    >>> secret, info = create_token(store, scope="write", project="qa")  # doctest: +SKIP
    >>> secret  # doctest: +SKIP
    'eyd_9mZ...'

A token is ``eyd_`` followed by 32 random bytes in URL-safe base64 (256 bits): too many to
guess, so a plain SHA-256 of it (no salt, no slow hash) is a safe and fast lookup key. The
store keeps that hash, the token's public id, its scope (``read`` or ``write``, which also
reads) and the project it opens (or every project).
"""

from __future__ import annotations

import hashlib
import secrets

from evalyard.core.ids import check_name
from evalyard.errors import InvalidInputError
from evalyard.store.base import TOKEN_SCOPES, TokenInfo, TokenStore

__all__ = ["TOKEN_PREFIX", "create_token", "hash_token"]

#: What every token starts with (so secret scanners and people recognise one).
TOKEN_PREFIX = "eyd_"


def hash_token(secret: str) -> str:
    """The hex SHA-256 of a token: what the store keeps and looks tokens up by."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_token(
    store: TokenStore, *, scope: str, project: str | None = None, name: str | None = None
) -> tuple[str, TokenInfo]:
    """Make a new token, store its hash, and return the secret (shown once) and its info.

    Raises:
        InvalidInputError: for an unknown scope or a bad project name.
    """
    if scope not in TOKEN_SCOPES:
        raise InvalidInputError(f"token scope must be read or write, not {scope!r}")
    if project is not None:
        project = check_name(project, what="project name")
    if name is not None:
        name = check_name(name, what="token name")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    info = store.add_token(
        token_id=secrets.token_hex(6),
        token_hash=hash_token(secret),
        scope=scope,
        project=project,
        name=name,
    )
    return secret, info
