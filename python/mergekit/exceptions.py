"""Every error mergekit raises, in one hierarchy.

Each class also derives from the exception a pandas user already catches for the same mistake, so code
written against ``pandas.merge`` keeps working: ``except pandas.errors.MergeError`` catches a failed
``validate=``, ``except KeyError`` a missing column, ``except ValueError`` incompatible key types.

The native engine raises these by name (see ``src/error.rs``: ``MergeError::kind``).
"""

from __future__ import annotations

from pandas.errors import MergeError as _PandasMergeError


class MergekitError(Exception):
    """Base class of every mergekit error."""


class InvalidMergeError(MergekitError, _PandasMergeError):
    """The merge specification is invalid (conflicting ``on``/``left_on``, bad ``how``, ...)."""


class DuplicateColumnError(InvalidMergeError):
    """An Arrow/polars input has two columns with one name, so a column reference would be ambiguous."""


class MergeValidationError(InvalidMergeError):
    """``validate=`` failed: the keys are not unique on a side that must be unique."""


class ColumnNotFoundError(MergekitError, KeyError):
    """A key column named by ``on``/``left_on``/``right_on`` does not exist."""

    def __str__(self) -> str:  # KeyError would repr() the message and add quotes
        return str(self.args[0]) if self.args else ""


class KeyTypeMismatchError(MergekitError, ValueError):
    """The two sides' key columns have types that cannot be compared."""


class UnsupportedKeyTypeError(MergekitError, TypeError):
    """A key column's type cannot be used as a join key (lists, structs, ...)."""


class OutputTooLargeError(MergekitError, MemoryError):
    """The join would produce more rows than ``max_output_rows`` allows."""


class InputError(MergekitError, ValueError):
    """Bad input data; the message names the file, line and column where it can."""


class InputFormatError(InputError):
    """A malformed delimited file: wrong field count, invalid UTF-8, an unterminated quote."""


class InputIOError(InputError, OSError):
    """An input or output file could not be opened, read or written."""


class ArrowEngineError(MergekitError, ValueError):
    """Arrow rejected an operation (for example an offset overflow in a huge string column)."""


class InternalError(MergekitError, RuntimeError):
    """A bug in mergekit. The engine caught it before it could crash Python; please report it."""


__all__ = [
    "ArrowEngineError",
    "ColumnNotFoundError",
    "DuplicateColumnError",
    "InputError",
    "InputFormatError",
    "InputIOError",
    "InternalError",
    "InvalidMergeError",
    "KeyTypeMismatchError",
    "MergeValidationError",
    "MergekitError",
    "OutputTooLargeError",
    "UnsupportedKeyTypeError",
]
