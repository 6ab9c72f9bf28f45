"""pandas' warnings point at the caller's line (pandas' ``find_stack_level``); through ``mergekit.merge``
they must too, not at mergekit's own files, and the caller's warning filters must apply as they do for
``pandas.merge``."""

from __future__ import annotations

import threading
import warnings

import pandas as pd
import pytest

import mergekit

LEFT = pd.DataFrame({"k": [1, 2, 3], "a": [10, 20, 30]})
RIGHT = pd.DataFrame({"k": [1.5, 2.0, 3.0], "b": ["x", "y", "z"]})  # int vs float: pandas warns


def _pandas_result() -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return pd.merge(LEFT, RIGHT, on="k")


def _warned(call) -> list[tuple[type, str, int, str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return [(w.category, w.filename, w.lineno, str(w.message)) for w in caught]


def test_a_key_coercion_warning_names_the_callers_line_as_pandas_does():
    def pandas_call():
        return pd.merge(LEFT, RIGHT, on="k")

    def mergekit_call():
        return mergekit.merge(LEFT, RIGHT, on="k")

    expected = _warned(pandas_call)
    got = _warned(mergekit_call)
    assert expected, "the oracle must warn for this case"
    assert [(c, f, m) for c, f, _, m in got] == [(c, f, m) for c, f, _, m in expected]
    assert all(f == __file__ for _, f, _, _ in got)
    # The line inside mergekit_call, as pandas names the line inside pandas_call.
    assert [line for _, _, line, _ in got] == [mergekit_call.__code__.co_firstlineno + 1] * len(got)


def test_an_error_filter_turns_the_warning_into_an_exception_as_for_pandas():
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        with pytest.raises(UserWarning, match="int and float") as from_pandas:
            pd.merge(LEFT, RIGHT, on="k")
        with pytest.raises(UserWarning, match="int and float") as from_mergekit:
            mergekit.merge(LEFT, RIGHT, on="k")
    assert str(from_mergekit.value) == str(from_pandas.value)


def test_an_error_filtered_warning_still_raises_inside_an_except_block():
    # An exception being handled around the call is not the merge's own: the warning must still raise.
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        try:
            raise RuntimeError("handled by the caller")
        except RuntimeError:
            with pytest.raises(UserWarning, match="int and float"):
                mergekit.merge(LEFT, RIGHT, on="k")


def test_an_ignore_filter_for_the_callers_module_silences_it():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=UserWarning, module=__name__)
        out = mergekit.merge(LEFT, RIGHT, on="k")
    assert caught == []
    pd.testing.assert_frame_equal(out, _pandas_result())


def test_a_merge_on_another_thread_still_warns_and_returns_pandas_result():
    results: dict[str, object] = {}

    def run():
        results["warned"] = _warned(lambda: results.update(out=mergekit.merge(LEFT, RIGHT, on="k")))

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert [m for _, _, _, m in results["warned"]] == [
        m for _, _, _, m in _warned(lambda: pd.merge(LEFT, RIGHT, on="k"))
    ]
    pd.testing.assert_frame_equal(results["out"], _pandas_result())


def test_a_merge_on_another_thread_names_the_callers_line_too():
    got: dict[str, list] = {}

    def mergekit_call():
        return mergekit.merge(LEFT, RIGHT, on="k")

    t = threading.Thread(target=lambda: got.update(warned=_warned(mergekit_call)))
    t.start()
    t.join()
    assert got["warned"], "the merge must warn"
    assert {(f, line) for _, f, line, _ in got["warned"]} == {
        (__file__, mergekit_call.__code__.co_firstlineno + 1)
    }


@pytest.mark.parametrize("how", ["inner", "left", "right", "outer"])
@pytest.mark.parametrize("left_dtype", ["Int64", "int64"])
def test_under_an_error_filter_the_merge_stops_where_pandas_stops(how, left_dtype):
    # The case that broke a deferred re-issue of pandas' warnings: pandas 2.2 warns about the int/float
    # keys and, for some joins, fails later on; under "error" both must stop at the warning.
    left = pd.DataFrame({"k": pd.array([1, 2, 3], dtype=left_dtype), "a": [1, 2, 3]})
    right = pd.DataFrame({"k": [1.5, 2.0, 3.0], "b": [4, 5, 6]})

    def outcome(merge):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                merge(left, right, on="k", how=how)
            except Exception as e:  # the outcome is compared with pandas'
                return type(e), str(e)
        return None

    expected = outcome(pd.merge)
    assert expected is not None, "the oracle must stop on the warning"
    assert outcome(mergekit.merge) == expected


def test_pandas_warnings_outside_mergekit_keep_their_own_attribution():
    # The rebinding must not change where pandas' warnings point when mergekit is not on the stack.
    def pandas_call():
        return pd.merge(LEFT, RIGHT, on="k")

    warned = _warned(pandas_call)
    assert warned
    assert {(f, line) for _, f, line, _ in warned} == {(__file__, pandas_call.__code__.co_firstlineno + 1)}
