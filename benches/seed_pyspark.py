"""The seed's own PySpark script (../shared/seeds: "Prepare the above python script for EMR"), the user's
alternative that benches/spark_bench.py times analysis.py against. A faithful copy: the same reader
(``spark.read.csv`` with an all-string schema), the same ``x.join(y, x.ID_x == y.ID_y, how="left")``, the same
``drop``, ``show()`` and ``write.option("header", "true").mode("overwrite").csv``. One change, so that both
programs read the same files the same way: the inputs' header line is skipped (``header=True``), as
analysis.py does, instead of being read as a data row.

    spark-submit benches/seed_pyspark.py --data_source_1 X --data_source_2 Y --output_uri OUT
"""

import argparse

from pyspark.sql import SparkSession
from pyspark.sql.types import StringType, StructField, StructType


def merge_two_files(data_source_1, data_source_2, output_uri):
    spark = SparkSession.builder.appName("merge-two-files").getOrCreate()

    x_schema = StructType(
        [StructField("ID_x", StringType(), True), StructField("value_x", StringType(), True)]
    )

    y_schema = StructType(
        [StructField("ID_y", StringType(), True), StructField("value_y", StringType(), True)]
    )

    if data_source_1 is not None:
        x = spark.read.csv(data_source_1, sep="\t", header=True, schema=x_schema)

    if data_source_2 is not None:
        y = spark.read.csv(data_source_2, sep="\t", header=True, schema=y_schema)

    res = x.join(y, x.ID_x == y.ID_y, how="left")
    res1 = res.drop(res.ID_y)
    res1.show()
    res1.write.option("header", "true").mode("overwrite").csv(output_uri)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--data_source_1", help="The URI for your input CSV data, like an S3 bucket location."
    )
    parser.add_argument(
        "--data_source_2", help="The URI for your input CSV data, like an S3 bucket location."
    )
    parser.add_argument("--output_uri", help="The URI where output is saved, like an S3 bucket location.")
    args = parser.parse_args()

    merge_two_files(args.data_source_1, args.data_source_2, args.output_uri)
