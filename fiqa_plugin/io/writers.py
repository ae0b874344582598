"""The one CSV writer of the project: whole rows, checkpointed, safe to resume after ``kill -9``.

A killed job must never leave a last line that breaks ``--resume``. So rows are formatted in
memory and written to the file only as whole rows, in one ``write`` per checkpoint (every
``every`` rows or ``seconds``, whichever comes first), then flushed and fsynced. On resume, a
trailing incomplete row (a write cut by a power loss, or a file another tool left) is cut off
before anything is appended, and the header must match.

Files are UTF-8; file names that are not valid UTF-8 (POSIX allows any bytes) round-trip through
Python's ``surrogateescape``, so such a row is written, and recognised on resume, like any other.
"""
from __future__ import annotations

import csv
import io
import logging
import os
import time
from typing import Iterable, Sequence, Set

from ..errors import ResumeError

log = logging.getLogger(__name__)

#: How CSVs are opened everywhere (readers too, so non-UTF-8 file names survive a round trip).
OPEN_KW = {"encoding": "utf-8", "errors": "surrogateescape", "newline": ""}


def complete_length(path: os.PathLike | str) -> int:
    """Bytes of ``path`` up to the end of its last complete CSV row (a row ends with a newline that
    is not inside a quoted field: an even number of quote characters so far, as csv doubles them)."""
    good = pos = 0
    quotes = 0
    with open(path, "rb") as fh:
        for line in fh:
            pos += len(line)
            quotes += line.count(b'"')
            if line.endswith(b"\n") and quotes % 2 == 0:
                good = pos
    return good


def repair_tail(path: os.PathLike | str) -> int:
    """Cut an incomplete last row off ``path``; returns how many bytes were dropped."""
    size = os.path.getsize(path)
    good = complete_length(path)
    if good < size:
        with open(path, "r+b") as fh:
            fh.truncate(good)
            fh.flush()
            os.fsync(fh.fileno())
        log.warning("%s: dropped an incomplete last row (%d bytes) left by an interrupted run", path, size - good)
    return size - good


class CsvRows:
    """Append rows to a CSV with a header; with ``resume=True`` keep what a previous run wrote.

    ``done`` holds the ``key`` column of the rows already there (empty when starting afresh).
    Use as a context manager; :meth:`write` buffers, checkpoints are automatic.
    """

    def __init__(self, path: os.PathLike | str, columns: Sequence[str], resume: bool = False, key: str = "path",
                 every: int = 64, seconds: float = 2.0) -> None:
        self.path = os.fspath(path)
        self.columns = list(columns)
        self.every, self.seconds = every, seconds
        self.done: Set[str] = set()
        self.kept = 0
        fresh = not (resume and os.path.exists(self.path) and os.path.getsize(self.path) > 0)
        if not fresh:
            repair_tail(self.path)
            fresh = os.path.getsize(self.path) == 0
        if not fresh:
            with open(self.path, **OPEN_KW) as fh:
                reader = csv.reader(fh)
                header = next(reader, None)
                if header != self.columns:
                    raise ResumeError(f"{self.path}: columns {header} differ from this run's {self.columns}",
                                      hint="write to a new --out, or drop --resume to start over")
                i = self.columns.index(key)
                for row in reader:
                    if len(row) > i:
                        self.done.add(row[i])
                        self.kept += 1
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_TRUNC if fresh else 0), 0o644)
        self._buf = io.StringIO()
        self._csv = csv.writer(self._buf)
        self._pending = 0
        self._last = time.monotonic()
        if fresh:
            self._csv.writerow(self.columns)
            self.flush()

    def write(self, row: Iterable) -> None:
        """Queue one row; it reaches the file whole at the next checkpoint."""
        self.write_rows([row])

    def write_rows(self, rows: Iterable[Iterable]) -> None:
        """Queue rows that belong together (the faces of one image): a checkpoint never splits them,
        so a resumed run that skips an image skips it whole."""
        for row in rows:
            self._csv.writerow(list(row))
            self._pending += 1
        if self._pending >= self.every or time.monotonic() - self._last >= self.seconds:
            self.flush()

    def flush(self) -> None:
        """Write the queued rows in one system call, then fsync (the checkpoint ``--resume`` reads)."""
        data = self._buf.getvalue().encode("utf-8", "surrogateescape")
        view = memoryview(data)
        while view:  # a regular file takes it in one write; loop only for the pathological case
            n = os.write(self._fd, view)
            view = view[n:]
        os.fsync(self._fd)
        self._buf.seek(0)
        self._buf.truncate()
        self._pending = 0
        self._last = time.monotonic()

    def close(self) -> None:
        if self._fd >= 0:
            self.flush()
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "CsvRows":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_csv(path: os.PathLike | str, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """A whole CSV at once, atomically (temporary file + rename): readers never see half of it."""
    tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
    n = 0
    try:
        with CsvRows(tmp, columns, every=4096) as out:
            for r in rows:
                out.write(r)
                n += 1
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return n
