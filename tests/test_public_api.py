"""The public surface: one sorted __all__, and an error tree that holds its promises."""

from __future__ import annotations

import evalyard
from evalyard import errors


def test_all_is_sorted_and_complete() -> None:
    assert evalyard.__all__ == sorted(evalyard.__all__)
    for name in evalyard.__all__:
        assert hasattr(evalyard, name), name
    public = {
        name for name in dir(evalyard) if not name.startswith("_") and name not in {"annotations"}
    }
    modules = {"config", "core", "errors", "runner", "runs", "store", "cli", "demo", "server"}
    modules |= {"many", "version", "importers", "exports"}
    assert public - modules - set(evalyard.__all__) == set()


def test_every_error_derives_from_evalyard_error() -> None:
    for name in errors.__all__:
        error = getattr(errors, name)
        if not isinstance(error, type):
            assert name == "error_class"  # the one function: finds a class by its name
            continue
        if issubclass(error, Warning):
            assert issubclass(error, evalyard.EvalyardWarning)
            continue
        assert issubclass(error, evalyard.EvalyardError)
    assert issubclass(evalyard.InvalidInputError, ValueError)
    assert issubclass(evalyard.RunNotFoundError, LookupError)
    assert issubclass(evalyard.AmbiguousRunError, LookupError)
