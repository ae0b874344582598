"""The one error hierarchy of fiqa-plugin.

Every error a *user* can cause or fix (a bad argument, a missing model or data file,
an unknown name, an unreadable input) is a :class:`FiqaError` carrying a ``hint``
that says what to do. The CLI prints exactly these as one line with exit code 2;
anything else is a bug and shows its traceback.

The subclasses also derive from the built-in exception a caller would expect
(``KeyError`` for unknown names, ``FileNotFoundError`` for missing assets,
``ValueError`` for bad values), so ``except ValueError`` keeps working.
"""
from __future__ import annotations

from typing import Optional


class FiqaError(Exception):
    """Base class: an error the user can fix; ``hint`` says how."""

    default_hint: str = ""

    def __init__(self, message: str, *, hint: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(FiqaError, ValueError):
    """A bad argument or option value, or an invalid combination of them."""


class UnknownNameError(FiqaError, KeyError):
    """A name that is not registered; the message suggests close matches."""

    def __str__(self) -> str:  # KeyError would quote the message
        return FiqaError.__str__(self)


class MissingAssetError(FiqaError, FileNotFoundError):
    """A required model or data file is absent; the hint says how to provide it."""


class InputError(FiqaError, ValueError):
    """An input file or record that cannot be used (unreadable image, malformed CSV row...)."""


class ModelError(FiqaError, ValueError):
    """A model file or config that is malformed, incompatible, or fails its parity check."""


class ResumeError(FiqaError, ValueError):
    """A checkpoint or partial output that cannot be resumed (different settings, corrupt file)."""
