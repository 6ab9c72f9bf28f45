"""Merge two files into one, on Spark, with mergekit's Rust join in the executors.

    spark-submit analysis.py --data_source_1 examples/x_list.txt --data_source_2 examples/y_list.txt \\
        --output_uri /tmp/merged

The seed's command, unchanged: with no master configured it runs on an embedded ``local[*]`` Spark, and on
Amazon EMR the same command runs under YARN. Inputs are read as strings (no type inference: it would cost an
extra pass over the data and could read the two sides' ids as different types or drop leading zeros).

The output appears at ``--output_uri`` only if the whole job succeeded: it is written to a hidden sibling
directory first and renamed into place at the end (see docs/spark.md, "What 'atomic' means here").
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import uuid
from typing import Optional

PREVIEW_ROWS = 20


class JobError(Exception):
    """A failure to report as one clear line (exit status 1), not a Java stack trace."""


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    from mergekit._vocab import JOIN_KINDS, SPARK_STRATEGIES

    p = argparse.ArgumentParser(
        prog="analysis.py", description="Merge two files into one (mergekit on Spark)."
    )
    p.add_argument(
        "--data_source_1", required=True, help="left input: a path or URI Spark can read (S3 on EMR)"
    )
    p.add_argument("--data_source_2", required=True, help="right input")
    p.add_argument("--output_uri", required=True, help="output directory (CSV with a header line)")
    p.add_argument(
        "--how",
        default="inner",
        choices=JOIN_KINDS,
        help="join type (default inner, what the original pandas script computed)",
    )
    p.add_argument("--on", help="key column(s), comma-separated (default: the first column of each input)")
    p.add_argument("--sep", help="field separator (default: tab; ',' with --format csv)")
    p.add_argument(
        "--no-header", action="store_true", help="the inputs have no header line (columns are _c0, _c1, ...)"
    )
    p.add_argument(
        "--format", choices=["csv", "tsv", "parquet"], help="input format (default: from the extension)"
    )
    p.add_argument(
        "--engine", choices=["mergekit", "spark"], default="mergekit", help="who joins (default mergekit)"
    )
    p.add_argument(
        "--strategy",
        choices=SPARK_STRATEGIES,
        default="auto",
        help="mergekit's join strategy",
    )
    p.add_argument("--buckets", type=int, help="shuffle buckets (default: from the data size)")
    p.add_argument("--no-preview", action="store_true", help="skip the preview (it re-reads the output)")
    return p.parse_args(argv)


def get_spark():
    """The active session, else a new one; ``local[*]`` when nothing (spark-submit, a cluster) set one."""
    from pyspark import SparkConf, SparkContext
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.appName("merge-two-files")
    if "PYSPARK_GATEWAY_PORT" in os.environ:
        # spark-submit started this process: its JVM holds the master (--master, spark-defaults.conf). Spark
        # 4 also passes it down in MASTER, Spark 3.5 (EMR 7) does not, and a SparkConf made before connecting
        # to that JVM reads nothing, so connect first (this starts no JVM) or a YARN job would run local[*].
        SparkContext._ensure_initialized()
    master = SparkConf().get("spark.master", None) or os.environ.get("MASTER")
    if master is None:
        builder = builder.master("local[*]")
        master = "local[*]"
    if master.startswith("local"):
        # Local Python workers must run this interpreter (the one that has mergekit); on a cluster the
        # cluster's configuration says which Python the executors use.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return builder.getOrCreate()


def input_format(path: str, fmt: Optional[str]) -> str:
    if fmt:
        return fmt
    return "parquet" if path.rstrip("/").lower().endswith((".parquet", ".pq")) else "tsv"


def read_input(spark, path: str, args: argparse.Namespace):
    fmt = input_format(path, args.format)
    try:
        if fmt == "parquet":
            return spark.read.parquet(path)
        sep = args.sep if args.sep is not None else ("," if fmt == "csv" else "\t")
        # FAILFAST: a ragged row stops the job instead of being padded with nulls (PERMISSIVE, the default).
        return spark.read.options(header=not args.no_header, sep=sep, mode="FAILFAST", inferSchema=False).csv(
            path
        )
    except Exception as e:
        raise JobError(f"cannot read {path}: {_first_line(e)}") from e


def _first_line(e: BaseException, inputs: tuple[str, ...] = ()) -> str:
    """The useful part of a Spark error (which file, which record) rather than a Java stack trace."""
    import re

    text = str(e)
    file = re.search(r"while reading file (\S+?)\.?\s", text, re.I)
    record = re.search(r"\[MALFORMED_CSV_RECORD\] (Malformed CSV record:.*?)(?: SQLSTATE|$)", text, re.M)
    record = record or re.search(
        r"(Malformed records are detected in record parsing.*?)(?: SQLSTATE|$)", text, re.M
    )
    if record:
        # Spark 4 names the file; where Spark (3.5) does not, name the inputs.
        where = f" in {file.group(1)}" if file else (f" in {' or '.join(inputs)}" if inputs else "")
        return f"{record.group(1).strip()}{where} (rows must have as many fields as the header)"
    for marker in ("PATH_NOT_FOUND", "Path does not exist", "Permission denied", "FileNotFound"):
        for line in text.splitlines():
            if marker in line:
                return re.sub(r"^.*?Exception: ", "", line.strip())
    return text.strip().splitlines()[0] if text.strip() else type(e).__name__


def key_columns(df, on: Optional[str], side: str, path: str) -> list[str]:
    keys = [k.strip() for k in on.split(",")] if on else [df.columns[0]]
    missing = [k for k in keys if k not in df.columns]
    if missing:
        raise JobError(f"--on column(s) {missing} not in {side} input {path}; its columns are {df.columns}")
    return keys


def spark_join(x, y, lo: list[str], ro: list[str], how: str, suffixes=("_x", "_y")):
    """Spark's own join with mergekit.spark's output columns (for --engine spark and comparisons)."""
    from pyspark.sql import functions as F

    shared = {a for a, b in zip(lo, ro) if a == b}
    from mergekit._vocab import LEFT_ONLY, ONE_SIDED

    if how in LEFT_ONLY:
        keep_r = []
    else:
        keep_r = [c for c in y.columns if c not in shared or how in ("cross", "right_anti")]
    overlap = set() if how in ONE_SIDED else set(x.columns) & set(keep_r)
    if how != "cross":
        overlap -= shared
    xl = x.select([F.col(c).alias(f"l{i}") for i, c in enumerate(x.columns)])
    yr = y.select([F.col(c).alias(f"r{i}") for i, c in enumerate(y.columns)])
    lname = {c: f"l{i}" for i, c in enumerate(x.columns)}
    rname = {c: f"r{i}" for i, c in enumerate(y.columns)}
    if how == "cross":
        j = xl.crossJoin(yr)
    else:
        cond = None
        for a, b in zip(lo, ro):
            c = F.col(lname[a]) == F.col(rname[b])
            cond = c if cond is None else cond & c
        if how == "right_anti":
            return yr.join(xl, cond, "left_anti").select([F.col(rname[c]).alias(c) for c in y.columns])
        j = xl.join(yr, cond, {"outer": "full"}.get(how, how))
    if how in LEFT_ONLY:
        return j.select([F.col(lname[c]).alias(c) for c in x.columns])
    cols = []
    for c in x.columns:
        if c in shared and how != "cross":
            key = (
                F.coalesce(F.col(lname[c]), F.col(rname[c])) if how in ("right", "outer") else F.col(lname[c])
            )
            cols.append(key.alias(c))
        else:
            cols.append(F.col(lname[c]).alias(f"{c}{suffixes[0]}" if c in overlap else c))
    cols += [F.col(rname[c]).alias(f"{c}{suffixes[1]}" if c in overlap else c) for c in keep_r]
    return j.select(cols)


class OutputDir:
    """Write to a hidden sibling of the output, rename it into place once complete (Hadoop FileSystem API,
    so the same code serves local paths, HDFS and S3).

    mergekit's one output rule (``mergekit._output``) decides what may be replaced: only an earlier complete
    mergekit output (``_SUCCESS`` plus mergekit's ``_MERGEKIT`` marker listing every file, and nothing else);
    never a directory it did not write, a file, or an input."""

    def __init__(self, spark, uri: str, inputs: tuple[str, ...] = ()):
        jvm = spark.sparkContext._jvm
        self.jvm = jvm
        self.path = jvm.org.apache.hadoop.fs.Path(uri.rstrip("/") or "/")
        self.fs = self.path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        parent = self.path.getParent()
        if parent is None:
            raise JobError(f"--output_uri {uri} has no parent directory")
        # A leading '.' hides it from Spark and Hadoop readers while it is being written.
        self.tmp = jvm.org.apache.hadoop.fs.Path(
            parent, f".{self.path.getName()}.mergekit-tmp-{uuid.uuid4().hex}"
        )
        self.uri = uri
        self.inputs = inputs
        self.check()

    def _qualified(self, uri: str) -> str:
        p = self.jvm.org.apache.hadoop.fs.Path(uri.rstrip("/") or "/")
        return p.getFileSystem(self.fs.getConf()).makeQualified(p).toString()

    def check(self) -> None:
        """Refuse (JobError, one line) to write where the output rule forbids it."""
        from mergekit import _output
        from mergekit.exceptions import OutputRefusedError

        out = self._qualified(self.uri)
        inside = [i for i in self.inputs if _output.is_within(self._qualified(i), out)]
        exists = self.fs.exists(self.path)
        is_dir = exists and self.fs.getFileStatus(self.path).isDirectory()
        entries, marker = [], None
        if is_dir:
            entries = [st.getPath().getName() for st in self.fs.listStatus(self.path)]
            if _output.DIR_MARKER in entries:
                marker = self._read(self.jvm.org.apache.hadoop.fs.Path(self.path, _output.DIR_MARKER))
        try:
            _output.check_dir_output(
                self.uri, exists=exists, is_dir=is_dir, entries=entries, marker=marker, inputs_inside=inside
            )
        except OutputRefusedError as e:
            raise JobError(str(e)) from None

    def _read(self, path) -> str:
        stream = self.fs.open(path)
        try:
            reader = self.jvm.java.io.BufferedReader(self.jvm.java.io.InputStreamReader(stream, "UTF-8"))
            lines = []
            while True:
                line = reader.readLine()
                if line is None:
                    break
                lines.append(line)
            return "\n".join(lines)
        finally:
            stream.close()

    def commit(self) -> None:
        from mergekit import _output

        written = [st.getPath().getName() for st in self.fs.listStatus(self.tmp)]
        stream = self.fs.create(self.jvm.org.apache.hadoop.fs.Path(self.tmp, _output.DIR_MARKER), False)
        try:
            stream.write(bytearray(_output.dir_marker(written).encode()))
        finally:
            stream.close()
        # The output may have changed while the job ran: check again right before replacing it.
        self.check()
        if self.fs.exists(self.path) and not self.fs.delete(self.path, True):
            raise JobError(f"cannot replace the existing {self.uri}")
        if not self.fs.rename(self.tmp, self.path):
            raise JobError(f"cannot rename {self.tmp.toString()} to {self.uri}")

    def discard(self) -> None:
        # Best effort: the job is failing already, and that error is the one to report.
        with contextlib.suppress(Exception):
            self.fs.delete(self.tmp, True)


class RowCount:
    """The number of rows that pass through a DataFrame, counted by Spark in the pass that uses it (an
    ``Observation``), so that the reconciliation counts cost no extra scan of the inputs or the output."""

    #: Seconds to wait for the count once the action that carries it has finished. Spark posts observed
    #: metrics to a listener shortly after the action; a plan that never ran the observed part (adaptive
    #: execution can skip the other side of a join whose one side is empty) never posts them at all.
    WAIT_SECONDS = 30.0

    def __init__(self, name: str):
        from pyspark.sql import Observation

        self.observation = Observation(f"mergekit_{name}_{uuid.uuid4().hex}")
        self.df = None

    def attach(self, df):
        from pyspark.sql import functions as F

        self.df = df
        return df.observe(self.observation, F.count(F.lit(1)).alias("rows"))

    def value(self) -> int:
        import threading

        box: list = []
        # Observation.get blocks until the metrics arrive, with no timeout: wait for it in a daemon thread.
        t = threading.Thread(target=lambda: box.append(self.observation.get), daemon=True)
        t.start()
        t.join(self.WAIT_SECONDS)
        if box:
            return int(box[0]["rows"])
        # Never observed: count with a scan of its own (slower, and still exact).
        return self.df.count()


def run(args: argparse.Namespace, spark) -> dict:
    """The job; returns the row counts. Raises JobError for bad input."""
    left_rows, right_rows, written_rows = RowCount("left"), RowCount("right"), RowCount("written")
    x = left_rows.attach(read_input(spark, args.data_source_1, args))
    y = right_rows.attach(read_input(spark, args.data_source_2, args))
    lo = [] if args.how == "cross" else key_columns(x, args.on, "left", args.data_source_1)
    ro = [] if args.how == "cross" else key_columns(y, args.on, "right", args.data_source_2)
    out = OutputDir(spark, args.output_uri, (args.data_source_1, args.data_source_2))
    try:
        if args.engine == "mergekit":
            import mergekit.spark

            kw = {} if args.how == "cross" else {"left_on": lo, "right_on": ro}
            # (A broadcast join reads the small side here already, so this is inside the try too.)
            res = mergekit.spark.merge(x, y, how=args.how, strategy=args.strategy, buckets=args.buckets, **kw)
        else:
            res = spark_join(x, y, lo, ro, args.how)
        # Reading all columns with FAILFAST makes a ragged row fail here, before anything is visible. The
        # three counts are taken in this same pass (see RowCount).
        written_rows.attach(res).write.option("header", "true").mode("error").csv(out.tmp.toString())
        counts = {"left": left_rows.value(), "right": right_rows.value(), "written": written_rows.value()}
        if not args.no_preview:
            written = spark.read.option("header", "true").csv(out.tmp.toString())
            # The preview is read back from the written files (a scan, not a second join), ordered by key so
            # that it is the same on every run.
            order = [c for c in written.columns if c in lo] or written.columns[:1]
            written.orderBy(*order).show(PREVIEW_ROWS)
        out.commit()
    except BaseException as e:
        out.discard()
        if isinstance(e, JobError):
            raise
        if isinstance(e, Exception):
            raise JobError(_first_line(e, (args.data_source_1, args.data_source_2))) from e
        raise
    return counts


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    spark = get_spark()
    spark.sparkContext.setLogLevel(os.environ.get("MERGEKIT_SPARK_LOG_LEVEL", "WARN"))
    try:
        counts = run(args, spark)
    except JobError as e:
        print(f"analysis.py: error: {e}", file=sys.stderr, flush=True)
        return 1
    print(
        f"read {counts['left']} rows from {args.data_source_1} and {counts['right']} rows from "
        f"{args.data_source_2}; wrote {counts['written']} rows to {args.output_uri} "
        f"(engine {args.engine}, how {args.how})",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
