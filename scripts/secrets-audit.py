#!/usr/bin/env python3
"""After the whole test suite: no card number, CVC or API key in any stored item or log line.

    python3 scripts/secrets-audit.py --dynamodb http://127.0.0.1:PORT --logs DIR [--require-data]

Scans every item of every table on the DynamoDB endpoint (moto_server: what every DynamoDB
test of the suite stored) and every line of every file in DIR (the logs of each `paylinks
serve` and Lambda emulator the flow tests started; scripts/test.sh points
PAYLINKS_TEST_LOG_DIR there). Exit 1 with the findings, else one line of figures.

What counts as a secret:
- a card number: 13 to 19 digits (spaces or hyphens allowed between them) starting 2-6,
  standing alone (not the fraction of a decimal) and passing the Luhn check;
- a CVC: an attribute or field named cvc / cvv / cvc2, or cardNumber / card_number;
- an API key: vk_… or mk_…, the prefixes of every key the service issues and the tests use.
"""

import argparse
import json
import pathlib
import re
import sys

import boto3
from botocore.config import Config

# Not the fraction of a decimal number (0.24000000000000002 is no card).
CARD = re.compile(r"(?<![0-9A-Za-z])(?<![0-9]\.)[2-6](?:[ -]?[0-9]){12,18}(?![0-9A-Za-z])")
API_KEY = re.compile(r"(?<![0-9A-Za-z])(?:vk|mk)_[0-9A-Za-z_]{6,}")
SECRET_FIELD = re.compile(r"^(?:cvc2?|cvv2?|card_?number)$", re.IGNORECASE)
SECRET_FIELD_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(?:cvc2?|cvv2?|card_?number)(?![0-9A-Za-z])", re.IGNORECASE)


def luhn(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def secrets_in_text(text: str) -> list[str]:
    found = []
    for match in CARD.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if luhn(digits):
            found.append(f"card number {digits[:6]}…{digits[-4:]}")
    found += [f"API key {m.group()[:6]}…" for m in API_KEY.finditer(text)]
    return found


def field_names(value, into: list[str]) -> list[str]:
    """Every attribute name in a DynamoDB item (maps nested at any depth)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            into.append(key)
            field_names(inner, into)
    elif isinstance(value, list):
        for inner in value:
            field_names(inner, into)
    return into


def audit_dynamodb(endpoint: str, findings: list[str]) -> tuple[int, int]:
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 3}),
    )
    tables = [t for page in client.get_paginator("list_tables").paginate() for t in page["TableNames"]]
    items = 0
    for table in tables:
        for page in client.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                items += 1
                where = f"dynamodb {table} {item.get('pk', {}).get('S', '?')}"
                # Attribute names (DynamoDB type tags such as "S" or "M" are one or two letters).
                for name in field_names(item, []):
                    if SECRET_FIELD.match(name):
                        findings.append(f"{where}: attribute {name!r}")
                for secret in secrets_in_text(json.dumps(item, default=str)):
                    findings.append(f"{where}: {secret}")
    return len(tables), items


def audit_logs(directory: pathlib.Path, findings: list[str]) -> tuple[int, int]:
    files = sorted(p for p in directory.glob("*") if p.is_file()) if directory.is_dir() else []
    lines = 0
    for path in files:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            lines += 1
            where = f"{path.name}:{number}"
            findings += [f"{where}: {secret}" for secret in secrets_in_text(line)]
            if SECRET_FIELD_IN_TEXT.search(line):
                findings.append(f"{where}: names a card field: {line[:200]}")
    return len(files), lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dynamodb", required=True, help="the DynamoDB endpoint the tests used")
    parser.add_argument("--logs", required=True, type=pathlib.Path, help="the directory of the tests' logs")
    parser.add_argument("--require-data", action="store_true", help="fail when there is nothing to audit")
    args = parser.parse_args()

    findings: list[str] = []
    tables, items = audit_dynamodb(args.dynamodb, findings)
    files, lines = audit_logs(args.logs, findings)
    if findings:
        print(f"secrets-audit: {len(findings)} secrets found:", file=sys.stderr)
        for finding in findings[:50]:
            print(f"  {finding}", file=sys.stderr)
        return 1
    if args.require_data and (items == 0 or lines == 0):
        print(f"secrets-audit: nothing to audit ({items} items, {lines} log lines): is the suite writing?", file=sys.stderr)
        return 1
    print(
        f"secrets-audit: {items} items in {tables} DynamoDB tables and {lines} log lines in {files} files: "
        "no card number, CVC or API key"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
