"""mergekit: a fast, Arrow-native, pandas-compatible merge.

``mergekit.merge`` is a drop-in for ``pandas.merge`` that runs a partitioned, multi-threaded Rust hash join
and accepts pandas, pyarrow and polars data (returning the same kind).

The public names are imported on first use (PEP 562), so ``import mergekit.cli`` (the console script)
starts without loading pandas and pyarrow: the command line can then handle Ctrl-C from its first moment.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> (module, attribute or None for the module itself)
_LAZY = {
    "MergekitError": ("mergekit.exceptions", "MergekitError"),
    "exceptions": ("mergekit.exceptions", None),
    "join_files": ("mergekit.files", "join_files"),
    "read_csv": ("mergekit.files", "read_csv"),
    "merge": ("mergekit.merge", "merge"),
}

__all__ = ["MergekitError", "__version__", "exceptions", "join_files", "merge", "read_csv"]


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'mergekit' has no attribute {name!r}") from None
    mod = importlib.import_module(module)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
