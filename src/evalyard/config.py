"""Settings, resolved in one order everywhere: argument > ``EVALYARD_*`` variable > default.

This is the only module that reads the environment.

| setting | variable | default |
|---|---|---|
| store URL | ``EVALYARD_STORE`` | ``sqlite:///<cwd>/.evalyard/evalyard.db`` |
| largest JSON field of a result, bytes | ``EVALYARD_MAX_FIELD_BYTES`` | 16 MiB |
| LLM judge: base URL of an OpenAI-compatible API | ``EVALYARD_JUDGE_BASE_URL`` | none |
| LLM judge: model | ``EVALYARD_JUDGE_MODEL`` | none |
| LLM judge: API key | ``EVALYARD_JUDGE_API_KEY`` | none (no ``Authorization``) |
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
]

#: The folder, under the current one, that holds the embedded store.
DEFAULT_STORE_DIR = ".evalyard"

_DEFAULT_MAX_FIELD_BYTES = 16 * 1024 * 1024


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


def _setting(value: str | None, variable: str) -> str | None:
    if value:
        return value
    return os.environ.get(variable) or None
