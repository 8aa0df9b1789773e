#!/bin/sh
# install-versitygw.sh builds the versitygw S3-compatible server once and
# caches it in <repo>/.cache/bin, where the fetcher tests look for it.
# Building takes about a minute and a half on two cores; later runs return
# at once. Override the version with VERSITYGW_VERSION.
set -eu

version=${VERSITYGW_VERSION:-v1.8.0}
repo=$(cd "$(dirname "$0")/.." && pwd)
bin="$repo/.cache/bin"

if [ -x "$bin/versitygw" ]; then
	echo "versitygw already installed: $bin/versitygw"
	exit 0
fi

mkdir -p "$bin"
echo "building versitygw $version into $bin (takes a minute or two)..."
# Run outside the repository so its go.mod does not influence the build.
cd "$repo/.cache"
GOBIN="$bin" GOFLAGS=-buildvcs=false go install "github.com/versity/versitygw/cmd/versitygw@$version"
echo "installed: $bin/versitygw"
