#!/usr/bin/env bash
# example.sh: watch a service upgrade itself twice and restart once while
# curl keeps hitting it, without a failed request. Needs only Go and curl.
#
#   ./example.sh          # on 127.0.0.1:3000, or the next free port up to 3099
#   PORT=8080 ./example.sh # on that port; fails at once if it is taken
#
# It builds example/ as v1, runs it on 127.0.0.1, publishes v2 and v3 by
# writing the new binary where the service's File fetcher looks, sends
# SIGUSR2, then SIGTERM, and removes everything it made.
set -euo pipefail
cd "$(dirname "$0")"

# taken PORT: whether something on 127.0.0.1 accepts connections on PORT.
taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [[ -n "${PORT:-}" ]]; then
	port=$PORT
	if taken "$port"; then
		echo "example.sh: port $port on 127.0.0.1 is taken by another program; set PORT to a free port, or unset it to pick one" >&2
		exit 1
	fi
else
	port=""
	for p in $(seq 3000 3099); do
		taken "$p" || { port=$p; break; }
	done
	[[ -n "$port" ]] || { echo "example.sh: ports 3000 to 3099 on 127.0.0.1 are all taken; set PORT to a free port" >&2; exit 1; }
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/overseer-demo-XXXXXX")
master=""
hitter=""
cleanup() {
	[[ -n "$hitter" ]] && kill "$hitter" 2>/dev/null || true
	if [[ -n "$master" ]] && kill -0 "$master" 2>/dev/null; then
		kill -TERM "$master" 2>/dev/null || true
		sleep 1
		kill -KILL "$master" 2>/dev/null || true
	fi
	# Children notice their master's death; this is a last resort.
	pkill -KILL -f "^$work/app\$" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

build() { go build -o "$1" -ldflags "-X main.version=$2" ./example; }

say "building v1, v2 and v3 of example/"
build "$work/app" v1
build "$work/v2" v2
build "$work/v3" v3

say "starting v1 on 127.0.0.1:$port (log: the lines prefixed with 'overseer')"
ADDR="127.0.0.1:$port" WATCH="$work/next" "$work/app" > >(sed -u 's/^/    overseer | /') 2>&1 &
master=$!
# The answer must come from a child of our master: another program that
# took the port after the check above would answer too.
ours() {
	local body child
	body=$(curl -sf -m 2 "http://127.0.0.1:$port/") || return 1
	[[ "$body" =~ ^v1\ pid=([0-9]+)\  ]] || return 1
	child=${BASH_REMATCH[1]}
	[[ "$(ps -o ppid= -p "$child" 2>/dev/null | tr -d ' ')" == "$master" ]]
}
started=""
for _ in $(seq 1 50); do
	kill -0 "$master" 2>/dev/null || break # it could not bind, say: its log says why
	ours && { started=1; break; }
	sleep 0.1
done
if [[ -z "$started" ]]; then
	if kill -0 "$master" 2>/dev/null; then
		echo "example.sh: the service did not answer on 127.0.0.1:$port within 5 s" >&2
	else
		echo "example.sh: the service exited at start (its log above says why)" >&2
	fi
	exit 1
fi
echo "    master pid $master: $(curl -s "http://127.0.0.1:$port/")"

say "curl hits the service non-stop from now on (one new connection per request)"
ok_file="$work/ok"; fail_file="$work/failed"; : >"$ok_file"; : >"$fail_file"
(
	for _ in $(seq 1 100000); do
		if out=$(curl -s -m 5 "http://127.0.0.1:$port/"); then echo "$out" >>"$ok_file"; else echo x >>"$fail_file"; fi
	done
) &
hitter=$!

wait_for() {
	for _ in $(seq 1 100); do
		curl -s "http://127.0.0.1:$port/" | grep -q "^$1 " && return 0
		sleep 0.1
	done
	echo "timed out waiting for $1"; exit 1
}

say "publishing v2 (writing the binary to $work/next)"
cp "$work/v2" "$work/next.tmp" && mv "$work/next.tmp" "$work/next"
wait_for v2
echo "    now serving: $(curl -s "http://127.0.0.1:$port/")"

say "publishing v3"
cp "$work/v3" "$work/next.tmp" && mv "$work/next.tmp" "$work/next"
wait_for v3
echo "    now serving: $(curl -s "http://127.0.0.1:$port/")"

say "SIGUSR2: a restart on the same binary, new pid"
before=$(curl -s "http://127.0.0.1:$port/")
kill -USR2 "$master"
for _ in $(seq 1 100); do
	now=$(curl -s "http://127.0.0.1:$port/")
	[[ "$now" != "$before" ]] && break
	sleep 0.05
done
echo "    before: $before"
echo "    after:  $now"

sleep 0.5
kill "$hitter" 2>/dev/null || true; wait "$hitter" 2>/dev/null || true; hitter=""
ok=$(wc -l <"$ok_file"); failed=$(wc -l <"$fail_file")
say "curl: $ok requests answered, $failed failed"
echo "    answered by: $(awk '{print $1}' "$ok_file" | sort | uniq -c | tr '\n' ' ')"

say "SIGTERM: the child drains, the master exits with its code"
kill -TERM "$master"
for _ in $(seq 1 50); do kill -0 "$master" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$master" 2>/dev/null; then echo "master still running"; exit 1; fi
left=$(pgrep -f "^$work/app\$" || true)
[[ -z "$left" ]] && echo "    stopped; no process left behind" || { echo "left behind: $left"; exit 1; }
master=""
[[ "$failed" == 0 ]] || { echo "FAILED: $failed requests failed"; exit 1; }
say "done"
