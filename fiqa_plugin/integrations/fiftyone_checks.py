"""Checks of what the FiftyOne operators and library calls are given, all done before anything is
written: a bad field name, a field of another type, a k of 0 or a NaN threshold is a
:class:`~fiqa_plugin.errors.UsageError` naming the input, never half a field written."""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Sequence, Tuple

from ..errors import UsageError

#: Fields every FiftyOne sample has (or FiftyOne manages): never overwritten by a result.
RESERVED = frozenset({"id", "filepath", "tags", "metadata", "media_type", "created_at", "last_modified_at",
                      "group", "frames"})


def field_name(name: Any, what: str) -> str:
    """``name`` if it can be a new top-level sample field, else a UsageError saying why."""
    if not isinstance(name, str) or not name.strip():
        raise UsageError(f"{what}: give a field name, got {name!r}")
    if name != name.strip() or name.startswith("_") or "." in name or "$" in name:
        raise UsageError(f"{what}: {name!r} is not a plain field name (no leading '_' or spaces, no '.' or '$')")
    if name in RESERVED:
        raise UsageError(f"{what}: {name!r} is a built-in FiftyOne field; choose another name")
    return name


def output_fields(dataset, wanted: Sequence[Tuple[str, str, Any, Optional[Any]]]) -> None:
    """Check every output field before the first write: ``(name, what, field class, embedded doc type
    or None)`` each. A name used twice, a reserved name, or an existing field of another type is refused."""
    seen: Dict[str, str] = {}
    schema = dataset.get_field_schema()
    for name, what, ftype, doc in wanted:
        field_name(name, what)
        if name in seen:
            raise UsageError(f"{what} and {seen[name]} are both {name!r}: give them different names")
        seen[name] = what
        have = schema.get(name)
        if have is None:
            continue
        ok = isinstance(have, ftype) and (doc is None or getattr(have, "document_type", None) is doc)
        if not ok:
            kind = getattr(have, "document_type", None) or type(have)
            raise UsageError(f"{what}: the dataset's field {name!r} already holds {kind.__name__}, not the "
                             f"{(doc or ftype).__name__} written here; choose another field name")


def count(value: Any, what: str) -> int:
    """A whole number >= 1 (``1.0`` is accepted, ``1.5``, ``0``, ``-3`` and NaN are not)."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{what} must be a whole number >= 1, got {value!r}") from None
    if not math.isfinite(f) or f != int(f) or f < 1:
        raise UsageError(f"{what} must be a whole number >= 1, got {value!r}")
    return int(f)


def threshold(value: Any, calibrated: bool) -> float:
    """A finite threshold; on the 0-100 scale when ``calibrated``."""
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"threshold must be a number, got {value!r}") from None
    if not math.isfinite(t):
        raise UsageError(f"threshold must be finite, got {value!r}")
    if calibrated and not 0 <= t <= 100:
        raise UsageError(f"a calibrated threshold is on the 0-100 scale, got {t:g}")
    return t
