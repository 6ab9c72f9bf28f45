"""Run mergekit's ``analysis.py`` on Amazon EMR: upload to S3, a transient spot-backed cluster, logs.

Needs boto3 (``pip install 'mergekit[emr]'``); the modules import it only when a request is made.
"""
