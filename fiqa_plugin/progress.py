"""Progress reporting: one callback type for the library, one tqdm bar for terminals.

Library functions take ``progress: Progress`` (called as ``progress(done, total)``), so the CLI can
show a tqdm bar and a FiftyOne operator can forward to ``ctx.set_progress`` with the same code.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, Optional, TypeVar

from tqdm import tqdm

#: ``progress(done, total)``: the one progress-callback signature of the library.
Progress = Callable[[int, int], None]

T = TypeVar("T")


@contextmanager
def progress_bar(total: int, desc: str, unit: str = "img") -> Iterator[Progress]:
    """A tqdm bar on stderr, yielded as a :data:`Progress` callback (hidden when stderr is not a terminal)."""
    bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, disable=None)

    def update(done: int, _total: int) -> None:
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()


def iter_progress(iterable: Iterable[T], total: Optional[int] = None, desc: str = "", enable: bool = True,
                  unit: str = "it", leave: bool = False) -> tqdm:
    """``iterable`` in a tqdm bar on stderr (a silent one unless ``enable``; ``set_postfix`` works either way)."""
    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=leave,
                disable=not enable)
