"""Name → factory registries, one per kind (quality methods, recognizers, labelers).

Entries are added with the ``register`` decorator, by built-ins and third-party
plugins alike (through the pluggy hooks in :mod:`fiqa_plugin.hookspecs`), and
queried by name. Unknown names raise ``KeyError`` with a "did you mean" hint.
"""
from __future__ import annotations

import difflib
import importlib
from enum import Enum
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Generic, Iterator, List, Optional, Type, TypeVar

from .errors import ModelError, UnknownNameError, UsageError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered factory with its name, a one-line summary and free-form tags."""

    name: str
    factory: Callable[..., T]
    summary: str = ""
    tags: Dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """A registry of named factories for one kind of object."""

    def __init__(self, kind: str, loader: Optional[Callable[[], None]] = None, *,
                 returns: Optional[str] = None, typed_tags: Optional[Dict[str, Type[Enum]]] = None) -> None:
        """``returns``: ``"module:Class"`` every factory must return an instance of (checked on ``create``;
        a string, so importing the registry imports nothing heavy). ``typed_tags``: tag name -> Enum its
        value must belong to (checked on ``add``)."""
        self.kind = kind
        self._returns = returns
        self._typed_tags = dict(typed_tags or {})
        self._entries: Dict[str, Entry[T]] = {}
        self._loader = loader
        self._loaded = loader is None
        self._loading = False  # guards re-entry: a loader's own registrations query the registry

    def _ensure_loaded(self) -> None:
        # Plugins are loaded lazily so importing the package stays cheap.
        # _loaded is set only after the loader returns, so a loader that raised is retried
        # on the next query instead of leaving the registry empty for the process.
        if not self._loaded and not self._loading:
            assert self._loader is not None
            self._loading = True
            try:
                self._loader()
                self._loaded = True
            finally:
                self._loading = False

    def register(
        self,
        name: str,
        summary: str = "",
        *,
        replace: bool = False,
        **tags: Any,
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: register ``factory`` under ``name``."""

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            self.add(name, factory, summary, replace=replace, **tags)
            return factory

        return decorator

    def add(
        self, name: str, factory: Callable[..., T], summary: str = "", *, replace: bool = False, **tags: Any
    ) -> None:
        """Register ``factory`` under ``name`` (the non-decorator form)."""
        if not name or not isinstance(name, str):
            raise UsageError(f"{self.kind} names must be non-empty strings, got {name!r}")
        if name in self._entries and not replace:
            raise UsageError(f"{self.kind} {name!r} is already registered", hint="pass replace=True to override it")
        for tag, enum in self._typed_tags.items():
            if tag in tags:
                try:
                    tags[tag] = enum(tags[tag])
                except ValueError:
                    raise UsageError(f"{self.kind} {name!r}: {tag}={tags[tag]!r} is not one of "
                                     f"{[e.value for e in enum]}") from None
        doc = (factory.__doc__ or "").strip().splitlines()
        self._entries[name] = Entry(name, factory, summary or (doc[0] if doc else ""), dict(tags))

    def remove(self, name: str) -> None:
        """Drop the entry ``name`` (unknown names raise with suggestions)."""
        self.entry(name)
        del self._entries[name]

    def entry(self, name: str) -> Entry[T]:
        """The entry for ``name``; raises :class:`UnknownNameError` with suggestions."""
        self._ensure_loaded()
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}.{hint} Registered: {', '.join(self.names()) or 'none'}."
            ) from None

    def create(self, name: str, **kwargs: Any) -> T:
        """Instantiate the entry ``name`` with ``kwargs`` (checked against ``returns``)."""
        obj = self.entry(name).factory(**kwargs)
        if self._returns is not None:
            module, _, cls_name = self._returns.partition(":")
            cls = getattr(importlib.import_module(module), cls_name)
            if not isinstance(obj, cls):
                raise ModelError(f"{self.kind} {name!r}: its factory returned a {type(obj).__name__}, not a {cls_name}",
                                 hint="fix the plugin that registered it")
        return obj

    def names(self) -> List[str]:
        """Sorted registered names."""
        self._ensure_loaded()
        return sorted(self._entries)

    def entries(self) -> List[Entry[T]]:
        self._ensure_loaded()
        return [self._entries[n] for n in sorted(self._entries)]

    def __contains__(self, name: object) -> bool:
        self._ensure_loaded()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._ensure_loaded()
        return len(self._entries)
