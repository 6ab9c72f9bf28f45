"""Test hook for the task-retry tests: kills a Python worker in the middle of a task's first attempt.

Only the cluster tests put this directory on ``PYTHONPATH`` (every Python process Spark starts imports
``sitecustomize`` at start-up). It does nothing unless ``MERGEKIT_TEST_KILL_DIR`` names a directory that
holds a file called ``armed``. Then ``mergekit.spark.join_tables`` is wrapped: in a task's first attempt
(``TaskContext.attemptNumber() == 0``) its second call, i.e. after the first join of the task has already sent
rows back to the JVM, ends the worker process with ``os._exit(1)`` and leaves a marker file naming the stage
and partition, so that the test can check that the kill really happened and Spark really retried.
"""

from __future__ import annotations

import os

_DIR = os.environ.get("MERGEKIT_TEST_KILL_DIR")


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
            if calls[task] == 2:
                marker = os.path.join(_DIR, f"killed-stage{task[0]}-partition{task[1]}-pid{os.getpid()}")
                with open(marker, "w") as f:
                    f.write(os.getcwd())
                os._exit(1)
        return original(left, right, spec)

    mks.join_tables = join_tables


if _DIR:
    _install()
