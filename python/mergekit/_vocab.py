"""The join vocabulary, spelled once: which ``how`` each face accepts, and the sets the faces branch on.

Every face (``mergekit.merge``, ``mergekit.spark``, ``join_files`` and ``mergekit join``, ``analysis.py``)
takes its choices from here, so a new join kind is added in one place. The tests keep their own lists on
purpose: they are the oracle, not a copy.
"""

from __future__ import annotations

#: What ``pandas.merge`` accepts, in the order pandas 3 lists them in its error message.
PANDAS_HOWS = ("left", "right", "inner", "outer", "left_anti", "right_anti", "cross")

#: ``mergekit.merge``: pandas' kinds plus a left semi join (Spark's ``left_semi``).
MERGE_HOWS = (*PANDAS_HOWS, "left_semi")

#: Every kind the engine and Spark face run, in the order the CLIs list them.
JOIN_KINDS = ("inner", "left", "right", "outer", "cross", "left_semi", "left_anti", "right_anti")

#: Files bigger than memory: no cross join (its output is the product of the inputs, never out-of-core).
FILE_HOWS = tuple(h for h in JOIN_KINDS if h != "cross")

#: Spill-file compressions of ``join_files`` (the engine parses them, ``src/io/spill.rs``), default first.
SPILL_COMPRESSIONS = ("auto", "lz4", "zstd", "none")

#: Kinds whose output has only the left side's columns (semi and anti joins keep one side).
LEFT_ONLY = ("left_semi", "left_anti")
#: Kinds whose output has only one side's columns.
ONE_SIDED = ("left_semi", "left_anti", "right_anti")

#: ``mergekit.spark.merge(strategy=...)`` and ``analysis.py --strategy``.
SPARK_STRATEGIES = ("auto", "shuffle", "broadcast")

VALIDATE_OPTIONS = ("one_to_one", "1:1", "one_to_many", "1:m", "many_to_one", "m:1", "many_to_many", "m:m")
