"""Every error mergekit raises, in one hierarchy.

Each class also derives from the exception a pandas user already catches for the same mistake, so code
written against ``pandas.merge`` keeps working: ``except pandas.errors.MergeError`` catches a failed
``validate=``, ``except KeyError`` a missing column, ``except ValueError`` incompatible key types.

The native engine raises these through one checked table: ``src/error.rs`` maps every engine error onto an
``ErrorClass``, and importing this module registers one class object per ``ErrorClass`` with the engine
(``_register_native_classes`` below fails the import if a name is missing), so the engine never looks a class
up by name when it raises. Other parts of mergekit (``mergekit.emr``) derive their errors from
:class:`MergekitError` too.
"""

from __future__ import annotations

from pandas.errors import MergeError as _PandasMergeError


class MergekitError(Exception):
    """Base class of every mergekit error."""


class InvalidMergeError(MergekitError, _PandasMergeError):
    """The merge specification is invalid (conflicting ``on``/``left_on``, bad ``how``, ...)."""


class OutputRefusedError(MergekitError, ValueError):
    """mergekit will not write to this output: it is one of the inputs, a device or a pipe, or an existing
    file or directory mergekit cannot show it wrote. The message says which, in one line."""


class InvalidArgumentError(InvalidMergeError):
    """An argument is out of range or of the wrong kind (``threads=0``, ``max_output_rows=-1``); the message
    names the argument. A ``ValueError`` (and, like every invalid specification, a pandas ``MergeError``)."""


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
    "InvalidArgumentError",
    "InvalidMergeError",
    "KeyTypeMismatchError",
    "MergeValidationError",
    "MergekitError",
    "OutputRefusedError",
    "OutputTooLargeError",
    "UnsupportedKeyTypeError",
]


def column_list(names, shown: int = 20, name_chars: int = 60) -> str:
    """Column names for an error message, capped like the engine's (``src/error.rs``: ``column_list``): a
    file with a huge header must not make a huge message."""
    names = list(names)

    def one(n: str) -> str:
        return repr(n) if len(n) <= name_chars else f"{n[:name_chars]!r}... ({len(n)} characters)"

    head = ", ".join(one(str(n)) for n in names[:shown])
    if len(names) > shown:
        return f"[{head}, ... {len(names) - shown} more] ({len(names)} columns)"
    return f"[{head}]"


def _register_native_classes() -> None:
    """Give the engine its error table: one class object per ``ErrorClass``, in the engine's order."""
    from mergekit import _native

    names = list(_native.error_class_names())
    unknown = [n for n in names if n not in __all__]
    if unknown:
        raise ImportError(f"the native engine raises classes missing from mergekit.exceptions: {unknown}")
    _native.register_error_classes([globals()[n] for n in names])


_register_native_classes()
