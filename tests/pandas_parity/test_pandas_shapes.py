"""Less common ways to call ``pandas.merge``: index levels named in ``on``, array keys, Series, MultiIndex
joins, dtypes Arrow cannot hold (Period, mixed objects). Each must equal pandas exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from parity_helpers import PANDAS_3, run_both

import mergekit

L = pd.DataFrame({"k": [1, 2, 2, np.nan], "j": ["a", "b", "b", "c"], "v": [1, 2, 3, 4]})
R = pd.DataFrame({"k": [2, np.nan, 5.0, 1], "j": ["b", "c", "x", "a"], "w": [1, 2, 3, 4]})
L_NO_NA = L.assign(k=[1, 2, 2, 4])
R_NO_NA = R.assign(k=[2, 3, 5, 1])

CASES = {
    "on_index_level": (L.set_index("k"), R, {"on": "k"}),
    "on_two_index_levels_outer": (L.set_index(["k", "j"]), R, {"on": ["k", "j"], "how": "outer"}),
    "on_levels_both_sides": (
        L.set_index(["k", "j"]),
        R.set_index(["k", "j"]),
        {"on": ["k", "j"], "how": "left"},
    ),
    "array_keys": (
        L,
        R,
        {"left_on": np.array([1, 2, 3, 4]), "right_on": np.array([4, 3, 2, 1]), "how": "outer"},
    ),
    "column_and_array_keys": (
        L,
        R,
        {"left_on": ["k", np.array([1, 2, 3, 4])], "right_on": ["k", np.array([4, 3, 2, 1])]},
    ),
    "named_series": (L["v"], R.rename(columns={"w": "v"}), {"on": "v", "how": "right"}),
    "multiindex_left_index_outer": (
        L.set_index(["k", "j"]),
        R,
        {"left_index": True, "right_on": ["k", "j"], "how": "outer"},
    ),
    "multiindex_right_index_left": (
        L,
        R.set_index(["k", "j"]),
        {"right_index": True, "left_on": ["k", "j"], "how": "left"},
    ),
    "multiindex_right_index_sorted": (
        L,
        R.set_index(["k", "j"]),
        {"right_index": True, "left_on": ["k", "j"], "sort": True},
    ),
    "multiindex_left_index_right": (
        L.set_index(["k", "j"]),
        R,
        {"left_index": True, "right_on": ["k", "j"], "how": "right"},
    ),
    "multiindex_both_inner": (
        L.set_index(["k", "j"]),
        R.set_index(["k", "j"]),
        {"left_index": True, "right_index": True},
    ),
    "index_validate_fails": (
        L.set_index("k"),
        R.set_index("k"),
        {"left_index": True, "right_index": True, "how": "left", "validate": "1:1"},
    ),
    "masked_float_outer": (
        L.astype({"k": "Float64"}),
        R.astype({"k": "Float64"}),
        {"on": "k", "how": "outer"},
    ),
    "arrow_float_outer": (
        L.astype({"k": "float64[pyarrow]"}),
        R.astype({"k": "float64[pyarrow]"}),
        {"on": "k", "how": "outer"},
    ),
    "category_outer": (L.astype({"j": "category"}), R.astype({"j": "category"}), {"on": "j", "how": "outer"}),
    "category_different_categories": (
        L.astype({"j": pd.CategoricalDtype(["c", "b", "a"])}),
        R.astype({"j": pd.CategoricalDtype(["x", "a", "b", "c"])}),
        {"on": "j", "how": "outer"},
    ),
    # the same unordered categories listed in another order: pandas recodes the right side into the left's
    # categories (a regression test: the raw codes were compared, pairing "a" with "c")
    **{
        f"category_same_set_other_order_{how}_{sort}": (
            L.astype({"j": pd.CategoricalDtype(["a", "b", "c"])}),
            R.assign(j=["c", "a", None, "b"]).astype({"j": pd.CategoricalDtype(["c", "b", "a"])}),
            {"on": "j", "how": how, "sort": sort},
        )
        for how in ("inner", "left", "right", "outer")
        for sort in (False, True)
    },
    # different categories with missing values on both sides, through every kind: the engine ranks the
    # two category lists (dictionary keys) instead of comparing decoded values
    **{
        f"category_different_categories_{how}_{sort}": (
            L.assign(j=["a", None, "b", "z"]).astype({"j": pd.CategoricalDtype(["z", "b", "a"])}),
            R.assign(j=["b", "q", None, "a"]).astype({"j": pd.CategoricalDtype(["q", "a", "b", "c"])}),
            {"on": "j", "how": how, "sort": sort},
        )
        for how in ("inner", "left", "right", "outer")
        for sort in (False, True)
    },
    # a categorical's missing values against an object column's: both NA, so they match (and categories
    # are not the last category: a regression test)
    "category_vs_object_missing_keys": (
        L.assign(c=pd.Categorical([None, "a", None, "b"], categories=["a", "b"])),
        R.assign(c=pd.Series([np.nan, "a", "x", None], dtype=object)),
        {"on": "c", "how": "outer"},
    ),
    "int_category_vs_int_keys": (
        L.assign(c=pd.Categorical([1, None, 2, 2], categories=[2, 1])),
        R.assign(c=[2, 1, 5, 1]),
        {"on": "c", "how": "left"},
    ),
    "period_keys": (
        L.assign(p=pd.period_range("2020", periods=4, freq="M")),
        R.assign(p=pd.period_range("2020-02", periods=4, freq="M")),
        {"on": "p", "how": "outer"},
    ),
    "mixed_object_keys": (
        L.assign(p=[1, "a", 2.5, None]),
        R.assign(p=["a", 1, None, 3]),
        {"on": "p", "how": "left"},
    ),
    "bool_with_int_keys": (
        L.assign(b=[True, False, True, False]),
        R.assign(b=[1, 0, 0, 2]),
        {"on": "b", "how": "inner"},
    ),
    "cross_with_indicator": (L, R, {"how": "cross", "indicator": True}),
    "cross_empty": (L.iloc[:0], R, {"how": "cross"}),
    "decimal_objects": (
        L.assign(d=[__import__("decimal").Decimal(x) for x in ("1.5", "2", "2", "3")]),
        R.assign(d=[__import__("decimal").Decimal(x) for x in ("2", "1.5", "7", "3.0")]),
        {"on": "d", "how": "outer"},
    ),
    "uint64_large": (
        L.assign(u=np.array([2**63 + 1, 5, 5, 7], dtype=np.uint64)),
        R.assign(u=np.array([7, 2**63 + 1, 9, 5], dtype=np.uint64)),
        {"on": "u", "how": "outer"},
    ),
    "right_index_left_anti": (L, R.set_index("k"), {"left_on": "k", "right_index": True, "how": "left_anti"}),
    "left_index_right_anti": (
        L.set_index("k"),
        R,
        {"left_index": True, "right_on": "k", "how": "right_anti"},
    ),
    "index_join_left_anti": (
        L.set_index("k"),
        R.set_index("k"),
        {"left_index": True, "right_index": True, "how": "left_anti"},
    ),
    "string_index_join_mixed_dtypes": (
        L_NO_NA.set_index("k"),
        R_NO_NA.set_index("k").set_axis(pd.Index([2.0, 3.0, 5.0, 1.0], name="k")),
        {"left_index": True, "right_index": True, "how": "inner"},
    ),
}
if not PANDAS_3:  # pandas 2.2 has no anti joins (both it and mergekit then refuse how="left_anti")
    for name in ("right_index_left_anti", "left_index_right_anti", "index_join_left_anti"):
        CASES[name][2]["how"] = "left"
for how in ("inner", "left", "right", "outer"):
    for sort in (False, True):
        CASES[f"multiindex_reordered_levels_{how}_{sort}"] = (
            L_NO_NA.set_index(["k", "j"]),
            R_NO_NA.set_index(["j", "k"]),
            {"left_index": True, "right_index": True, "how": how, "sort": sort},
        )

# MultiIndexes that share only some level names join on those (pandas' Index._join_multi); a MultiIndex and
# a flat index join on the level they share; no shared name is pandas' ValueError. Missing keys and
# duplicates included.
PARTIAL_LEVELS = {
    "kj_kw": (L.set_index(["k", "j"]), R.set_index(["k", "w"])),
    "kw_kj": (R.set_index(["k", "w"]), L.set_index(["k", "j"])),
    "kjv_wjk_no_na": (L_NO_NA.set_index(["k", "j", "v"]), R_NO_NA.set_index(["w", "j", "k"])),
    "kj_k": (L.set_index(["k", "j"]), R.set_index("k")),
    "j_kj": (R.set_index("j"), L.set_index(["k", "j"])),
    "kj_wj_no_na": (L_NO_NA.set_index(["k", "j"]), R_NO_NA.set_index(["w", "j"])),
    "no_shared_name": (L.set_index(["k", "j"]), R.set_index(["w"]).rename_axis("x")),
}
for shape, (left_frame, right_frame) in PARTIAL_LEVELS.items():
    for how in ("inner", "left", "right", "outer"):
        for sort in (False, True):
            CASES[f"multiindex_partial_levels_{shape}_{how}_{sort}"] = (
                left_frame,
                right_frame,
                {"left_index": True, "right_index": True, "how": how, "sort": sort},
            )


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", sorted(CASES))
def test_pandas_shapes_match(name):
    left, right, kwargs = CASES[name]
    # pandas 2.2's partial-level join is an inner join of the shared levels that ignores sort=, so its
    # libjoin reordering (see pandas22_inner_order_bug) applies to it whatever sort= says.
    partial_inner = name.startswith("multiindex_partial_levels") and kwargs["how"] == "inner"
    got, expected = run_both(
        lambda: pd.merge(left, right, **kwargs),
        lambda: mergekit.merge(left, right, **kwargs),
        n_left=len(left) if partial_inner else None,
        kwargs={"how": "inner"} if partial_inner else None,
    )
    if isinstance(expected, Exception):
        assert str(got) == str(expected)
