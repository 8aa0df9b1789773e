#!/usr/bin/env bash
# download-rss.sh: the master's peak memory while it streams, hashes,
# verifies (minisign) and checks a large binary, and the time from publish
# to the new version serving. Uses the File fetcher (1 s interval).
#
#   ./bench/download-rss.sh [SIZE_MB ...]     default: 20 100
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("${@:-20 100}")
[[ $# -eq 0 ]] && sizes=(20 100)
command -v minisign >/dev/null || { echo "needs minisign (apt-get install minisign)"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/overseer-dlrss-XXXXXX")
master=""
cleanup() {
	[[ -n "$master" ]] && kill -TERM "$master" 2>/dev/null && sleep 1 && kill -KILL "$master" 2>/dev/null || true
	pkill -KILL -f "^$work/" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

go build -o "$work/v1" -ldflags "-X main.version=v1" ./testdata/app
go build -o "$work/v2" -ldflags "-X main.version=v2" ./testdata/app
minisign -G -W -p "$work/key.pub" -s "$work/key.sec" >/dev/null
pub=$(tail -n 1 "$work/key.pub")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

printf '| binary | publish → serving | master RSS before | master peak RSS (VmHWM) | master RSS after |\n|---|---|---|---|---|\n'
for mb in "${sizes[@]}"; do
	mkdir -p "$work/run$mb"
	cp "$work/v1" "$work/run$mb/app"
	cp "$work/v2" "$work/big"
	truncate -s "${mb}M" "$work/big" # trailing bytes: still a valid executable
	minisign -S -s "$work/key.sec" -m "$work/big" -x "$work/run$mb/next.minisig" >/dev/null
	APP_ADDR="127.0.0.1:$port" APP_WATCH="$work/run$mb/next" APP_PUBLIC_KEY="$pub" "$work/run$mb/app" >"$work/run$mb/log" 2>&1 &
	master=$!
	for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.05; done
	sleep 1.5 # the fetcher's first look at the (absent) file
	before=$(awk '/VmRSS/{print $2}' "/proc/$master/status")
	cp "$work/big" "$work/run$mb/next.tmp"
	start=$(date +%s%N)
	mv "$work/run$mb/next.tmp" "$work/run$mb/next"
	for _ in $(seq 1 600); do curl -s "http://127.0.0.1:$port/" | grep -q '^v2 ' && break; sleep 0.01; done
	took=$(( ($(date +%s%N) - start) / 1000000 ))
	peak=$(awk '/VmHWM/{print $2}' "/proc/$master/status")
	sleep 0.5
	after=$(awk '/VmRSS/{print $2}' "/proc/$master/status")
	printf '| %d MB | %d ms | %.1f MB | %.1f MB | %.1f MB |\n' "$mb" "$took" "$(bc -l <<<"$before/1024")" "$(bc -l <<<"$peak/1024")" "$(bc -l <<<"$after/1024")"
	kill -TERM "$master"; wait "$master" 2>/dev/null || true; master=""
done
