#!/usr/bin/env bash
# install-test-deps.sh installs what the test suite needs on a fresh
# machine. Each step is skipped when its tool is already there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# A real S3-compatible server for the S3 fetcher tests.
"$here/install-versitygw.sh"
