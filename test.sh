#!/usr/bin/env bash
# test.sh: install what the tests need on a fresh machine, then run every
# check: gofmt, go vet, staticcheck, cross-platform builds, go test -race.
#
#   ./test.sh           everything
#   ./test.sh -short    the same checks, with shorter soak-style tests
set -euo pipefail
cd "$(dirname "$0")"

short=""
[[ "${1:-}" == "-short" ]] && short="-short"

step() { printf '\n== %s\n' "$*"; }

step "install test dependencies"
if [[ -x scripts/install-test-deps.sh ]]; then
	scripts/install-test-deps.sh
fi
# Tests that need an installed tool fail instead of skipping under test.sh.
export OVERSEER_REQUIRE_ALL=1

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*'))
if [[ -n "$unformatted" ]]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

# The library's module, the S3 fetcher's own module (kept apart so that
# programs without S3 do not depend on the AWS SDK), and the integration
# tests' module (gRPC, WebSocket, jpillora/overseer: test-only dependencies).
modules=(. fetcher/s3 integration)

step "go vet"
for m in "${modules[@]}" bench; do (cd "$m" && go vet ./...) && echo "ok $m"; done

step "staticcheck"
for m in "${modules[@]}"; do (cd "$m" && go run honnef.co/go/tools/cmd/staticcheck@v0.6.1 ./...) && echo "ok $m"; done

step "builds for other platforms (in-process fallback)"
for os in windows darwin freebsd; do
	GOOS=$os GOARCH=amd64 go build ./... && echo "ok $os"
done

step "go test -race"
for m in "${modules[@]}"; do (cd "$m" && go test -race -count=1 -timeout 20m $short ./...); done
