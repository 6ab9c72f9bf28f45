"""Test hook for the task-retry tests: kills a Python worker in the middle of a task's first attempt.

Only the cluster tests put this directory on ``PYTHONPATH`` (every Python process Spark starts imports
``sitecustomize`` at start-up). It does nothing unless ``MERGEKIT_TEST_KILL_DIR`` names a directory that
holds a file called ``armed``. Then ``mergekit.spark.join_tables`` is wrapped: in a task's first attempt
(``TaskContext.attemptNumber() == 0``) its call number ``MERGEKIT_TEST_KILL_AT_CALL`` (default 2: after the
first join of the task has already sent rows back to the JVM; 1 where a task joins its whole partition in
one call, the streaming shuffle of Spark 3.5) ends the worker process with ``os._exit(1)`` and leaves a
marker file naming the stage and partition, so that the test can check that the kill really happened and
Spark really retried.
"""

from __future__ import annotations

import os

_DIR = os.environ.get("MERGEKIT_TEST_KILL_DIR")
_AT_CALL = int(os.environ.get("MERGEKIT_TEST_KILL_AT_CALL", "2"))


def _install() -> None:
    import mergekit.spark as mks

    original = mks.join_tables
    calls: dict = {}

    def join_tables(left, right, spec):
        from pyspark import TaskContext

        ctx = TaskContext.get()
        if ctx is not None and ctx.attemptNumber() == 0 and os.path.exists(os.path.join(_DIR, "armed")):
            task = (ctx.stageId(), ctx.partitionId())
            calls[task] = calls.get(task, 0) + 1
            if calls[task] == _AT_CALL:
                marker = os.path.join(_DIR, f"killed-stage{task[0]}-partition{task[1]}-pid{os.getpid()}")
                with open(marker, "w") as f:
                    f.write(os.getcwd())
                os._exit(1)
        return original(left, right, spec)

    mks.join_tables = join_tables


if _DIR:
    _install()
