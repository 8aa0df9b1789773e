#!/usr/bin/env bash
# install-test-deps.sh installs what the test suite needs on a fresh
# machine. Each step is skipped when its tool is already there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# A real S3-compatible server for the S3 fetcher tests.
"$here/install-versitygw.sh"

# The real minisign tool, to sign test binaries the way publishers do.
if ! command -v minisign >/dev/null; then
	echo "installing minisign (Debian package)"
	if [[ $(id -u) -eq 0 ]]; then sudo=""; else sudo="sudo"; fi
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq minisign
fi

# A real supervisord, to run the service the way supervisord deployments do
# (supervisor_test.go: signal, upgrade, stop and crash under supervisord).
if ! command -v supervisord >/dev/null; then
	echo "installing supervisor (Debian package)"
	if [[ $(id -u) -eq 0 ]]; then sudo=""; else sudo="sudo"; fi
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq supervisor
fi
