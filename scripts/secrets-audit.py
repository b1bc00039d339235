#!/usr/bin/env python3
"""After the whole test suite: no card number, CVC or API key in any stored item or log line.

    python3 scripts/secrets-audit.py --dynamodb http://127.0.0.1:PORT --logs DIR [--require-data]

Scans every item of every table on the DynamoDB endpoint (moto_server: what every DynamoDB
test of the suite stored) and every line of every file in DIR (the logs of each `paylinks
serve` and Lambda emulator the flow tests started; scripts/test.sh points
PAYLINKS_TEST_LOG_DIR there). Exit 1 with the findings, else one line of figures, with the
warnings and errors the services logged (the load test pays with the sandbox's processing-error
card, so the "processor failed the charge" warnings are among them).

What counts as a secret:
- a card number: 13 to 19 digits (spaces or hyphens allowed between them) starting 2-6,
  standing alone (not the fraction of a decimal) and passing the Luhn check;
- a CVC: an attribute or field named cvc / cvv / cvc2, or cardNumber / card_number; and,
  in any stored string or log line, a CVC value (3 or 4 digits: the tests pay with 123, and
  1234 for Amex) written as the value of a CVC-named field: `cvc=123`, `"cvc":"1234"`,
  `cvc: "123"`, `\"cvv\": 123`, `securityCode=123`, also percent-encoded (`cvc%3D123`,
  `%22cvc%22%3A%22123%22`, encoded twice), `+`-for-space form encoding and HTML entities.
  A number is only a CVC after such a name: 123 in an amount, a count or an id is not;
- an API key: vk_… or mk_…, the prefixes of every key the service issues and the tests use.
"""

import argparse
import collections
import html
import json
import pathlib
import re
import sys
import urllib.parse

import boto3
from botocore.config import Config

# Not the fraction of a decimal number (0.24000000000000002 is no card).
CARD = re.compile(r"(?<![0-9A-Za-z])(?<![0-9]\.)[2-6](?:[ -]?[0-9]){12,18}(?![0-9A-Za-z])")
API_KEY = re.compile(r"(?<![0-9A-Za-z])(?:vk|mk)_[0-9A-Za-z_]{6,}")
SECRET_FIELD = re.compile(r"^(?:cvc2?|cvv2?|card_?number)$", re.IGNORECASE)
SECRET_FIELD_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(?:cvc2?|cvv2?|card_?number)(?![0-9A-Za-z])", re.IGNORECASE)
# A CVC value after a CVC-named field: the name (cvc, cvc2, cvv, cvv2, csc, securityCode,
# security_code, "security code", cardVerificationCode/Value), then only punctuation, spaces and
# quotes (`=`, `:`, `": "`, `\":\"`, `=>`, `[`), then 3 or 4 digits standing alone.
CVC_VALUE = re.compile(
    r"(?<![0-9A-Za-z])(?P<name>cvc2?|cvv2?|csc|security[ _-]?code|card[ _-]?verification[ _-]?(?:code|value))"
    r"(?P<sep>[^0-9A-Za-z]{1,12})(?P<value>[0-9]{3,4})(?![0-9A-Za-z])",
    re.IGNORECASE,
)
# The CVCs the tests pay with (tests/, shared/src): each must be found, whatever its encoding.
TEST_CVCS = ("123", "1234")


def decoded_variants(text: str) -> list[str]:
    """The text as stored and as it reads once decoded: percent-encoding (up to three times, as
    a form body inside a URL inside a log line would be), `+` for space, HTML entities."""
    variants = [text]
    for _ in range(3):
        latest = variants[-1]
        decoded = urllib.parse.unquote_plus(latest) if ("%" in latest or "+" in latest) else latest
        if decoded == latest:
            break
        variants.append(decoded)
    variants += [html.unescape(v) for v in list(variants) if "&" in v]
    return variants


def cvcs_in_text(text: str) -> list[str]:
    """A finding per CVC value written after a CVC-named field (the digits never repeated)."""
    found = []
    for variant in decoded_variants(text):
        for match in CVC_VALUE.finditer(variant):
            finding = f"a {len(match.group('value'))}-digit CVC after {match.group('name')!r}"
            if finding not in found:
                found.append(finding)
    return found


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
    found += cvcs_in_text(text)
    return found


def self_test() -> list[str]:
    """The patterns find every way the tests' CVCs could be written, and nothing in ordinary
    text. Run before every audit: a pattern that silently stopped matching would pass anything."""
    failures = []
    for cvc in TEST_CVCS:
        written = [
            f"cvc={cvc}",
            f"cardNumber=4242&expiry=01%2F30&cvc={cvc}&cardholderName=Ada",
            f'{{"cvc":"{cvc}"}}',
            f'{{"cvc": {cvc}}}',
            f'PayForm {{ cvc: "{cvc}" }}',
            json.dumps({"S": json.dumps({"CVV": cvc})}),  # JSON inside a stored string
            f"body=cvc%3D{cvc}",
            f"q=%22cvc%22%3A%22{cvc}%22",
            f"u=cvc%253D{cvc}",  # encoded twice
            f"cvc&quot;:&quot;{cvc}&quot;",
            f"securityCode={cvc}",
            f"security code: {cvc}",
            f"cvc2 => {cvc}",
        ]
        failures += [f"not found: {text}" for text in written if not cvcs_in_text(text)]
    ordinary = [
        '{"amount":"123.00","quantity":1234,"invoiceId":"INV-1234"}',
        "Enter the 3 or 4 digit security code (CVC) from your card.",
        "cvc_len=3 attempts=1234",
        '{"cvcChecked":true,"count":123}',
        "card ending 1234, 123 requests in 1234 ms",
        "cvc=12345 is no CVC; cvc=12 neither",
        "the cvc is invalid (123 attempts)",
        "https://mystore.com/thank-you?session_id=cs_123&amount=1234",
    ]
    failures += [f"false positive: {text}" for text in ordinary if cvcs_in_text(text)]
    return failures


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


def warning_message(line: str) -> str | None:
    """The message of a JSON log line at WARN or ERROR level, else None."""
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    if isinstance(entry, dict) and entry.get("level") in ("WARN", "ERROR"):
        return f"{entry['level']} {entry.get('message', '?')}"
    return None


def audit_logs(directory: pathlib.Path, findings: list[str], warnings: collections.Counter) -> tuple[int, int]:
    files = sorted(p for p in directory.glob("*") if p.is_file()) if directory.is_dir() else []
    lines = 0
    for path in files:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            lines += 1
            if message := warning_message(line):
                warnings[message] += 1
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

    broken = self_test()
    if broken:
        print("secrets-audit: the CVC patterns are broken:", file=sys.stderr)
        for failure in broken:
            print(f"  {failure}", file=sys.stderr)
        return 2

    findings: list[str] = []
    tables, items = audit_dynamodb(args.dynamodb, findings)
    warnings: collections.Counter = collections.Counter()
    files, lines = audit_logs(args.logs, findings, warnings)
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
    if warnings:
        audited = ", ".join(f"{message} ×{n}" for message, n in sorted(warnings.items()))
        print(f"secrets-audit: warnings and errors among those lines: {audited}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
