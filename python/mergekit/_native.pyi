"""Type stub for the private native module. Use the public names in ``mergekit`` instead."""

from typing import Any, Optional, Protocol, final

__all__ = [
    "JoinProgress",
    "csv_columns",
    "default_threads",
    "error_class_names",
    "join_files",
    "join_indices",
    "key_types_compare",
    "read_csv",
    "register_error_classes",
    "take",
    "take_block",
]

class _ArrowStream(Protocol):
    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any: ...

class _ArrowSchema(Protocol):
    def __arrow_c_schema__(self) -> Any: ...

class _ArrowArray(Protocol):
    def __arrow_c_array__(self, requested_schema: Any = None) -> Any: ...

class _Table:
    """An Arrow table owned by Rust; consume it with ``pyarrow.table(obj)`` (zero-copy)."""
    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any: ...

class _Array:
    """An Arrow array owned by Rust; consume it with ``pyarrow.array(obj)`` (zero-copy)."""
    def __arrow_c_array__(self, requested_schema: Any = None) -> Any: ...

def join_indices(
    left_keys: _ArrowStream,
    right_keys: _ArrowStream,
    how: str,
    *,
    nulls_equal: bool = True,
    sort: bool = False,
    validate: Optional[str] = None,
    max_output_rows: Optional[int] = None,
    threads: Optional[int] = None,
    narrow: bool = False,
) -> tuple[_Array, _Array]:
    """Match rows of two key tables: (left_row, right_row) int64 arrays, -1 where a side has no row; int32
    with ``narrow`` when both sides have fewer than 2^31 rows."""

def take(table: _ArrowStream, indices: _ArrowArray, *, threads: Optional[int] = None) -> _Table:
    """Gather rows of ``table`` by int64 or int32 ``indices`` in parallel; -1 gives a null row."""

def take_block(
    table: _ArrowStream,
    indices: _ArrowArray,
    fill: str,
    fill_value: int = 0,
    *,
    threads: Optional[int] = None,
) -> _ArrowArray:
    """The rows ``indices`` of every column of ``table`` (one fixed-width type), column after column in one
    array; ``fill``: "same" (-1 rows get ``fill_value``, NaN for floats) or "float64" (integers to float64,
    -1 rows NaN)."""

def default_threads() -> int: ...
def key_types_compare(left: _ArrowSchema, right: _ArrowSchema) -> bool:
    """Whether the engine joins keys of these two Arrow types by value (else the caller numbers them)."""

# --- files (src/py/files.rs) ---

def read_csv(
    path: str,
    *,
    sep: str = "\t",
    quotechar: Optional[str] = ...,  # '"' (pyo3 shows non-literal defaults as ...)
    header: bool = True,
    names: Optional[list[str]] = None,
    on_bad_lines: str = "error",
    infer_types: bool = False,
    threads: Optional[int] = None,
) -> tuple[_Table, list[str], int]:
    """Read a delimited file in parallel; returns (table, bad-line warnings, bad-line count)."""

def csv_columns(
    path: str,
    *,
    sep: str = "\t",
    quotechar: Optional[str] = ...,  # '"' (pyo3 shows non-literal defaults as ...)
    header: bool = True,
) -> list[str]:
    """Column names of a delimited file (reads only its first record)."""

@final
class JoinProgress:
    """Counters of a running join_files, safe to poll from another thread."""
    def __init__(self) -> None: ...
    def snapshot(self) -> tuple[int, int, int, int]:
        """(phase, done_bytes, total_bytes, rows_written); phase 0 starting .. 4 done."""

def join_files(
    left: Any,
    right: Any,
    output: str,
    *,
    left_on: list[str],
    right_on: list[str],
    how: str,
    plan: list[tuple[str, str, str, Optional[str]]],
    memory_limit: int,
    left_size: int = 0,
    right_size: int = 0,
    sep: str = "\t",
    quotechar: Optional[str] = ...,  # '"' (pyo3 shows non-literal defaults as ...)
    header: bool = True,
    on_bad_lines: str = "error",
    output_sep: Optional[str] = ...,  # "\t"
    output_header: bool = True,
    nulls_equal: bool = True,
    threads: Optional[int] = None,
    temp_dir: Optional[str] = None,
    spill_compression: str = "auto",
    progress: Optional[JoinProgress] = None,
) -> dict[str, Any]:
    """Out-of-core join of two inputs (a path: delimited text; else an Arrow stream) into ``output``
    (delimited when ``output_sep`` is given, else Arrow IPC). Returns the summary as a dict."""

def error_class_names() -> list[str]:
    """The names of the ``mergekit.exceptions`` classes the engine raises, in the engine's table order."""

def register_error_classes(classes: list[type]) -> None:
    """Give the engine one class per name of ``error_class_names()`` (done by ``mergekit.exceptions``)."""
