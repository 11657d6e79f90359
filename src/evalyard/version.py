"""evalyard's version: one place, read by the package, the CLI, the server and the client."""

from __future__ import annotations

__all__ = ["__version__"]

#: The version of this evalyard (PEP 440), also in pyproject.toml.
__version__ = "0.1.0"
