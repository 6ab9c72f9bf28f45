"""The engine's runtime promises: the GIL is released, pools survive fork, Ctrl-C stops a join."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pyarrow as pa

import mergekit
from mergekit import _native


def _sparse_keys(n: int, seed: int) -> pa.Table:
    # Sparse values force the hashed, partitioned path (not the dense direct map).
    return pa.table({"k": np.random.default_rng(seed).permutation(n) * 1_000_003})


def test_gil_is_released_while_the_engine_works():
    left, right = _sparse_keys(2_000_000, 1), _sparse_keys(2_000_000, 2)
    ticks = 0
    stop = threading.Event()

    def spin():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        before = ticks
        li, _ = _native.join_indices(left, right, "inner")
        during = ticks - before
    finally:
        stop.set()
        t.join()
    assert len(pa.array(li)) == 2_000_000
    # Holding the GIL for the whole join would leave the spinning thread at (almost) zero ticks.
    assert during > 1000, during


def test_engine_works_in_a_forked_child_after_the_parent_used_it():
    # Spark forks its Python workers from a parent that may already have run joins: a rayon pool created
    # before fork has no threads in the child, so the engine must build the child its own.
    code = textwrap.dedent(
        """
        import os, sys
        import pyarrow as pa
        import mergekit
        l = pa.table({"k": list(range(100_000)), "v": list(range(100_000))})
        r = pa.table({"k": list(range(0, 200_000, 2))})
        assert mergekit.merge(l, r, on="k").num_rows == 50_000
        pid = os.fork()
        if pid == 0:
            ok = mergekit.merge(l, r, on="k", how="left").num_rows == 100_000
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], timeout=120, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_threads_argument_gives_the_same_result():
    left, right = _sparse_keys(300_000, 3), _sparse_keys(300_000, 4)
    one = mergekit.merge(left, right, on="k", how="outer", threads=1)
    four = mergekit.merge(left, right, on="k", how="outer", threads=4)
    assert one.equals(four)


def test_ctrl_c_interrupts_a_long_join_with_keyboard_interrupt():
    # The child loops over large joins; SIGINT must end it with KeyboardInterrupt (exit 130-like traceback),
    # whether it lands inside the engine (the cancel flag) or between calls.
    code = textwrap.dedent(
        """
        import sys
        import numpy as np, pyarrow as pa
        from mergekit import _native
        rng = np.random.default_rng(0)
        l = pa.table({"k": rng.permutation(3_000_000) * 1_000_003})
        r = pa.table({"k": rng.permutation(3_000_000) * 1_000_003})
        try:
            print("ready", flush=True)
            while True:
                _native.join_indices(l, r, "outer")
        except KeyboardInterrupt as e:
            print("interrupted:", e, flush=True)
            sys.exit(42)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # let it get well inside a join, where nearly all of its time goes
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    assert proc.returncode == 42
    assert "interrupted" in out
