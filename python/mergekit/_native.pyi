"""Type stub for the private native module. Use the public names in ``mergekit`` instead."""

from typing import Any, Optional, Protocol

class _ArrowStream(Protocol):
    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any: ...

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
) -> tuple[_Array, _Array]:
    """Match rows of two key tables; returns (left_row, right_row) int64 arrays, -1 where a side has no row."""

def take(table: _ArrowStream, indices: _ArrowArray, *, threads: Optional[int] = None) -> _Table:
    """Gather rows of ``table`` by int64 ``indices`` in parallel; -1 gives a null row."""

def default_threads() -> int: ...
