"""A name -> factory registry, shared by models/ and data/ (timm's register_model style)."""

from __future__ import annotations

import importlib
from typing import Callable, Generic, TypeVar

from search.errors import SpecError

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries register themselves when their module is imported; `modules` says which
    module holds which name, so a name is imported only when first asked for (a search of
    the electricity task never pays for importing torchvision, in the driver or a worker)."""

    def __init__(self, kind: str, modules: dict[str, str] | None = None):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._modules = dict(modules or {})

    def register(self, name: str) -> Callable[[T], T]:
        def add(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = entry
            return entry

        return add

    def get(self, name: str, where: str = "") -> T:
        if name not in self._entries and name in self._modules:
            importlib.import_module(self._modules[name])
        if name not in self._entries:
            prefix = f"{where}: " if where else ""
            raise SpecError(
                f"{prefix}unknown {self.kind} {name!r}; available: {', '.join(self.names())}"
            )
        return self._entries[name]

    def names(self) -> list[str]:
        return sorted(set(self._entries) | set(self._modules))

    def __contains__(self, name: str) -> bool:
        return name in self._entries or name in self._modules
