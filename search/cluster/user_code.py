"""A user's own model or task, named `module:callable` in a space (as `uvicorn main:app`).

The module is imported as Python imports it from the folder the search started in
(and PYTHONPATH). Every failure is a SpecError naming the spec key and the value, so a
misspelt module, a module that fails its own imports or a missing attribute is refused
before anything starts. `shipped_paths` says which files must travel to Ray's workers
(runtime_env py_modules) so the same code runs on every node.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
import sysconfig
from pathlib import Path
from typing import Any

from search.errors import SpecError

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def is_import_path(name: Any) -> bool:
    return isinstance(name, str) and ":" in name


def split_import_path(path: str, key: str) -> tuple[str, str]:
    module, _, attribute = path.partition(":")
    if not _DOTTED.match(module) or not _DOTTED.match(attribute):
        raise SpecError(f"{key}: {path!r} is not module:callable (for example my_nets:TinyGRU)")
    return module, attribute


def ensure_start_folder_importable() -> None:
    """`python -m search.run` puts the start folder first on the path; a script or a notebook
    kernel started elsewhere may not, and the user's files are in the folder they work in."""
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.insert(0, here)


def import_module(module: str, path: str, key: str):
    ensure_start_folder_importable()
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name is not None and (module == err.name or module.startswith(err.name + ".")):
            raise SpecError(f"{key}: {path!r}: no module named {err.name!r} in {os.getcwd()} "
                            "or on PYTHONPATH") from None
        raise SpecError(f"{key}: {path!r}: importing {module} failed: {one_line(err)}") from None
    except Exception as err:  # noqa: BLE001 - whatever the user's module raises while importing
        raise SpecError(f"{key}: {path!r}: importing {module} failed: {one_line(err)}") from None


def import_object(path: str, key: str) -> Any:
    """The callable `path` names; SpecError (naming `key`) for each way it can be wrong."""
    module_name, attribute = split_import_path(path, key)
    found = import_module(module_name, path, key)
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise SpecError(f"{key}: {path!r}: module {module_name!r} has no attribute {part!r}")
        found = getattr(found, part)
    if not callable(found):
        raise SpecError(f"{key}: {path!r} is not callable (it is a {type(found).__name__})")
    return found


def one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _installed_roots() -> set[Path]:
    return {Path(p).resolve() for key in ("purelib", "platlib")
            if (p := sysconfig.get_paths().get(key))}


def module_origin(module: str) -> Path | None:
    """The file or folder that holds a module's top-level package (what py_modules ships),
    or None where it is installed (every node installs its dependencies) or the platform."""
    top = module.split(".")[0]
    if top == __name__.split(".")[0]:
        return None
    spec = importlib.util.find_spec(top)
    if spec is None or spec.origin in (None, "built-in", "frozen"):
        return None
    origin = Path(spec.origin).resolve()
    location = origin.parent if spec.submodule_search_locations else origin
    if any(root in location.parents or root == location for root in _installed_roots()):
        return None
    return location


def shipped_paths(import_paths: list[str]) -> list[str]:
    """Files and folders of the user's modules, for Ray's runtime_env py_modules."""
    shipped: list[str] = []
    for path in import_paths:
        origin = module_origin(path.partition(":")[0])
        if origin is not None and str(origin) not in shipped:
            shipped.append(str(origin))
    return shipped


def search_roots(shipped: list[str]) -> list[str]:
    """The sys.path entries the shipped modules are found under (their parent folders)."""
    return list(dict.fromkeys(str(Path(p).parent) for p in shipped))
