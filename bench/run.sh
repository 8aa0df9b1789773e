#!/usr/bin/env bash
# run.sh — build every benchmark variant and run the benchmark driver.
#
#   ./bench/run.sh --quick [--publish]   keep-alive on/off × sleep 0/50ms, 1 round (< 3 min)
#   ./bench/run.sh                       the full matrix (adds sleep 250ms, 3 rounds)
#   ./bench/run.sh --soak [N]            N restarts (default 1000) of ours + graceful.Serve
#   ./bench/run.sh --upgrade             publish → new version serving via fetcher.File
#   ./bench/run.sh --fleet               10,000 simulated hosts take a staged release from HTTP and versitygw
#
# Any other arguments after the mode are passed to the driver (see
# `out/bin/bench -h`). Results go to bench/out/. A variant that fails to
# build is reported as such in the table; the others still run.
set -uo pipefail

cd "$(dirname "$0")"
BENCH_DIR=$(pwd)
OUT=$BENCH_DIR/out
BIN=$OUT/bin
mkdir -p "$BIN" "$OUT/work"

mode=full
publish=0
extra=()
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) mode=quick ;;
	--full) mode=full ;;
	--soak)
		mode=soak
		if [[ "${2:-}" =~ ^[0-9]+$ ]]; then extra+=(-restarts "$2"); shift; fi
		;;
	--upgrade) mode=upgrade ;;
	--fleet) mode=fleet ;;
	--publish) publish=1 ;;
	-h | --help)
		sed -n '2,13p' "$0"
		exit 0
		;;
	*) extra+=("$1") ;;
	esac
	shift
done

# Kill every process group the driver recorded, even if the driver itself
# was killed; the driver normally does this already.
cleanup() {
	if [ -f "$OUT/work/pgids" ]; then
		while read -r g; do
			[ -n "$g" ] && kill -KILL -- "-$g" 2>/dev/null
		done <"$OUT/work/pgids"
		rm -f "$OUT/work/pgids"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The drop-in variant is the jpillora app with only the import path changed.
sed 's#"github.com/jpillora/overseer"#"github.com/seed-710818af/overseer"#' \
	apps/jpillora/main.go >apps/oursdropin/main.go

echo "building the driver"
if ! go build -o "$BIN/bench" ./cmd/bench; then
	echo "run.sh: the driver does not build" >&2
	exit 1
fi

built=()
failed=()
build() { # name
	if go build -o "$BIN/$1" "./apps/$1" >"$OUT/build-$1.log" 2>&1; then
		built+=("$1")
	else
		failed+=("$1")
		echo "  $1: BUILD FAILED (see out/build-$1.log)" >&2
		sed -n '1,5p' "$OUT/build-$1.log" | sed 's/^/    /' >&2
	fi
}

case "$mode" in
quick | full)
	echo "building the variants"
	for v in jpillora tableflip oursdropin oursgraceful plain; do build "$v"; done
	;;
soak) build oursgraceful ;;
upgrade) ;; # the driver builds its own versions of apps/oursupgrade
fleet)
	if ! go build -o "$BIN/fleet" ./cmd/fleet; then
		echo "run.sh: the fleet simulation does not build" >&2
		exit 1
	fi
	# The S3 store: versitygw, built once into .cache/bin.
	if ! ../scripts/install-versitygw.sh; then
		echo "run.sh: versitygw could not be built (scripts/install-versitygw.sh)" >&2
		exit 1
	fi
	;;
esac
join() { local IFS=,; echo "$*"; }

cd "$OUT/.." || exit 1
case "$mode" in
quick | full)
	if [ ${#built[@]} -eq 0 ]; then
		echo "run.sh: no variant built" >&2
		exit 1
	fi
	"$BIN/bench" -mode "$mode" -bin "$BIN" -out "$OUT" \
		-variants "$(join "${built[@]}")" -unbuilt "$(join "${failed[@]:-}")" "${extra[@]}"
	rc=$?
	;;
soak)
	if [ ${#failed[@]} -gt 0 ]; then exit 1; fi
	"$BIN/bench" -mode soak -bin "$BIN" -out "$OUT" "${extra[@]}"
	rc=$?
	;;
upgrade)
	"$BIN/bench" -mode upgrade -bin "$BIN" -out "$OUT" "${extra[@]}"
	rc=$?
	;;
fleet)
	"$BIN/fleet" -out "$OUT/fleet.md" -store http,versitygw \
		-versitygw "$BENCH_DIR/../.cache/bin/versitygw" "${extra[@]}"
	rc=$?
	;;
esac

if [ "$publish" = 1 ] && [ -f "$OUT/latency.png" ]; then
	mkdir -p ../docs
	cp "$OUT/latency.png" ../docs/bench-latency.png
	echo "copied the plot to docs/bench-latency.png"
fi
exit "$rc"
