"""Hyperparameter search for deep learning: one YAML, one command.

The platform knows nothing about any one model or dataset: tasks live in `data/`,
networks in `models/`, and both are found by name through their registries.

`data/` and `models/` sit beside `search/` at the top of the repository, but they are
imported as `search.data` and `search.models`: a user's own project very often has a
`data/` folder or a `models/` package, and the folder a search starts in comes first on
Python's import path, so top-level names `data` and `models` would be theirs, not ours.
The platform owns one top-level name, `search`.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_FOLDERS = ("models", "data")


class _PlatformFolders(importlib.abc.MetaPathFinder):
    """Finds `search.models` and `search.data`: inside this package where a wheel
    installed them (pyproject's package-dir), else the repository's top-level folders
    beside it (a checkout, or an editable install)."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.rpartition(".")
        if package != __name__ or name not in _FOLDERS:
            return None
        for folder in (_HERE / name, _HERE.parent / name):
            if (folder / "__init__.py").is_file():
                return importlib.util.spec_from_file_location(
                    fullname, folder / "__init__.py", submodule_search_locations=[str(folder)])
        return None


# First in line: another copy of the platform's editable-install finder must not answer
# for the folders beside *this* copy of `search`.
if not any(isinstance(f, _PlatformFolders) for f in sys.meta_path):
    sys.meta_path.insert(0, _PlatformFolders())


def __getattr__(name: str):
    # The Python API, imported on first use: a trial worker imports `search` too and
    # must not pay for Ray Tune's driver side, MLflow and pandas.
    if name in ("run_search", "SearchResult"):
        from search import api

        return getattr(api, name)
    if name == "SpecError":
        from search.errors import SpecError

        return SpecError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["run_search", "SearchResult", "SpecError"]
