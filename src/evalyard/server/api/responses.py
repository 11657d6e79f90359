"""The JSON response of the API: orjson, so every answer is valid JSON and fast."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse

__all__ = ["ORJSONResponse"]


class ORJSONResponse(JSONResponse):
    """JSON through orjson: fast, and always valid JSON (a NaN becomes null)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
