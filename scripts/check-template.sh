#!/usr/bin/env bash
# Lints the SAM template offline (no AWS account, no credentials): `sam validate --lint` (SAM's
# own rules and transform) and `cfn-lint` (CloudFormation's rules, on the transformed template).
# Both come pinned from PyPI via scripts/tools.sh. Warnings fail the check too.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=$(scripts/tools.sh sam)
export SAM_CLI_TELEMETRY=0 AWS_REGION="${AWS_REGION:-us-east-1}"

echo "check-template.sh: sam validate --lint ($("$bin/sam" --version))"
"$bin/sam" validate --lint --template template.yaml
echo "check-template.sh: cfn-lint $("$bin/cfn-lint" --version | awk '{print $2}')"
"$bin/cfn-lint" --format parseable template.yaml
echo "check-template.sh: template.yaml is clean"
