"""Settings, resolved in one order everywhere: argument > ``EVALYARD_*`` variable > default.

This is the only module that reads the environment.

| setting | variable | default |
|---|---|---|
| store URL | ``EVALYARD_STORE`` | ``sqlite:///<cwd>/.evalyard/evalyard.db`` |
| largest JSON field of a result, bytes | ``EVALYARD_MAX_FIELD_BYTES`` | 16 MiB |
| LLM judge: base URL of an OpenAI-compatible API | ``EVALYARD_JUDGE_BASE_URL`` | none |
| LLM judge: model | ``EVALYARD_JUDGE_MODEL`` | none |
| LLM judge: API key | ``EVALYARD_JUDGE_API_KEY`` | none (no ``Authorization``) |
| team server: the SDK's access token | ``EVALYARD_TOKEN`` | none |
| team server: seconds the SDK retries before spooling | ``EVALYARD_RETRY_SECONDS`` | 30 |
| team server: the SDK's spool folder | ``EVALYARD_SPOOL_DIR`` | ``<cwd>/.evalyard/spool`` |
"""

from __future__ import annotations

import os
from pathlib import Path

from evalyard.errors import InvalidInputError

__all__ = [
    "DEFAULT_STORE_DIR",
    "judge_api_key",
    "judge_base_url",
    "judge_model",
    "max_field_bytes",
    "resolve_store_url",
    "retry_seconds",
    "spool_dir",
    "token",
]

#: The folder, under the current one, that holds the embedded store.
DEFAULT_STORE_DIR = ".evalyard"

_DEFAULT_MAX_FIELD_BYTES = 16 * 1024 * 1024
_DEFAULT_RETRY_SECONDS = 30.0


def resolve_store_url(url: str | None = None) -> str:
    """Return the store URL to use: ``url``, else ``EVALYARD_STORE``, else the embedded file.

    A bare path (no ``scheme://``) is taken as an SQLite file.
    """
    chosen = url or os.environ.get("EVALYARD_STORE") or ""
    if not chosen:
        path = Path.cwd() / DEFAULT_STORE_DIR / "evalyard.db"
        return f"sqlite:///{path}"
    if "://" not in chosen:
        return f"sqlite:///{Path(chosen).resolve()}"
    return chosen


def max_field_bytes() -> int:
    """The largest size, in bytes of JSON, of one field (inputs, outputs...) of a result."""
    raw = os.environ.get("EVALYARD_MAX_FIELD_BYTES")
    if raw is None or raw == "":
        return _DEFAULT_MAX_FIELD_BYTES
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInputError(
            f"EVALYARD_MAX_FIELD_BYTES must be a whole number of bytes, not {raw!r}"
        ) from None
    if value <= 0:
        raise InvalidInputError(f"EVALYARD_MAX_FIELD_BYTES must be positive, not {value}")
    return value


def judge_base_url(value: str | None = None) -> str | None:
    """The LLM judge's API base URL (such as ``http://127.0.0.1:8080/v1``): ``value``, else
    ``EVALYARD_JUDGE_BASE_URL``, else None."""
    return _setting(value, "EVALYARD_JUDGE_BASE_URL")


def judge_model(value: str | None = None) -> str | None:
    """The LLM judge's model: ``value``, else ``EVALYARD_JUDGE_MODEL``, else None."""
    return _setting(value, "EVALYARD_JUDGE_MODEL")


def judge_api_key(value: str | None = None) -> str | None:
    """The LLM judge's API key: ``value``, else ``EVALYARD_JUDGE_API_KEY``, else None."""
    return _setting(value, "EVALYARD_JUDGE_API_KEY")


def token(value: str | None = None) -> str | None:
    """The access token the SDK sends to a team server: ``value``, else ``EVALYARD_TOKEN``,
    else None (a server without auth)."""
    return _setting(value, "EVALYARD_TOKEN")


def retry_seconds(value: float | None = None) -> float:
    """How long the SDK retries an unreachable team server (connection errors, 5xx) before
    it spools batches to a local file: ``value``, else ``EVALYARD_RETRY_SECONDS``, else 30.
    """
    if value is not None:
        chosen: float = value
    else:
        raw = os.environ.get("EVALYARD_RETRY_SECONDS")
        if raw is None or raw == "":
            return _DEFAULT_RETRY_SECONDS
        try:
            chosen = float(raw)
        except ValueError:
            raise InvalidInputError(
                f"EVALYARD_RETRY_SECONDS must be a number of seconds, not {raw!r}"
            ) from None
    if not chosen >= 0:
        raise InvalidInputError(f"the retry time must be 0 seconds or more, not {chosen}")
    return chosen


def spool_dir(value: str | Path | None = None) -> Path:
    """Where the SDK keeps batches a team server could not take yet: ``value``, else
    ``EVALYARD_SPOOL_DIR``, else ``.evalyard/spool`` under the current folder."""
    chosen = value or os.environ.get("EVALYARD_SPOOL_DIR") or ""
    if not chosen:
        return Path.cwd() / DEFAULT_STORE_DIR / "spool"
    return Path(chosen).resolve()


def _setting(value: str | None, variable: str) -> str | None:
    if value:
        return value
    return os.environ.get(variable) or None
