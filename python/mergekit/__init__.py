"""mergekit: a fast, Arrow-native, pandas-compatible merge.

``mergekit.merge`` is a drop-in for ``pandas.merge`` that runs a partitioned, multi-threaded Rust hash join
and accepts pandas, pyarrow and polars data (returning the same kind).
"""

from __future__ import annotations

from mergekit import exceptions
from mergekit.exceptions import MergekitError
from mergekit.files import join_files, read_csv
from mergekit.merge import merge

__version__ = "0.1.0"

__all__ = ["MergekitError", "__version__", "exceptions", "join_files", "merge", "read_csv"]
