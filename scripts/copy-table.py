"""Copies a DynamoDB table's keys, indexes and items from one endpoint to another (moto to
dynalite, for the cold-start bench: dynalite lacks TTL and streams, which creating our table
needs, but serves GetItem much faster than moto). boto3 comes with moto[server].

Usage: python3 scripts/copy-table.py FROM_ENDPOINT TO_ENDPOINT TABLE
"""

import sys

import boto3

source_url, target_url, table = sys.argv[1:4]
credentials = dict(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
source = boto3.client("dynamodb", endpoint_url=source_url, **credentials)
target = boto3.client("dynamodb", endpoint_url=target_url, **credentials)

description = source.describe_table(TableName=table)["Table"]
spec = dict(
    TableName=table,
    KeySchema=description["KeySchema"],
    AttributeDefinitions=description["AttributeDefinitions"],
    BillingMode="PAY_PER_REQUEST",
)
indexes = description.get("GlobalSecondaryIndexes", [])
if indexes:
    spec["GlobalSecondaryIndexes"] = [
        dict(IndexName=index["IndexName"], KeySchema=index["KeySchema"], Projection=index["Projection"])
        for index in indexes
    ]
target.create_table(**spec)
copied = 0
for page in source.get_paginator("scan").paginate(TableName=table):
    for item in page["Items"]:
        target.put_item(TableName=table, Item=item)
        copied += 1
print(f"copy-table.py: {copied} items of {table} copied to {target_url}", file=sys.stderr)
