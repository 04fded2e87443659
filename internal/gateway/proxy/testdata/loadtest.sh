#!/usr/bin/env bash
# Compares the engine with the naive httputil.ReverseProxy of the peer benchmark (same backend, same wrk
# load, rounds interleaved) and prints req/s and proxy CPU µs per request. Run from anywhere:
#   internal/gateway/proxy/testdata/loadtest.sh [rounds] [duration]
set -euo pipefail
ROUNDS=${1:-3}
DURATION=${2:-10s}
PEER=${PEER:-/work/shared/reference/peer-bench}
HERE=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$BIN"' EXIT
(cd "$PEER" && go build -trimpath -o "$BIN/" ./cmd/backend ./cmd/goproxy)
(cd "$HERE" && go test -c -o "$BIN/proxy.test" .)
"$BIN/backend" -addr 127.0.0.1:18000 2>/dev/null &
"$BIN/goproxy" -listen 127.0.0.1:18080 -backend http://127.0.0.1:18000 2>/dev/null &
GOPROXY_PID=$!
PROXY_BENCH_LISTEN=127.0.0.1:18081 PROXY_BENCH_BACKEND=http://127.0.0.1:18000 PROXY_BENCH_SECONDS=100000 \
	"$BIN/proxy.test" -test.run BenchHarness >/dev/null 2>&1 &
ENGINE_PID=$!
sleep 1
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
tick=$(getconf CLK_TCK)
run() { # name pid port
	local c0 c1 out rps
	c0=$(cpu "$2")
	out=$(wrk -t2 -c64 -d"$DURATION" -H 'Authorization: Bearer bench' "http://127.0.0.1:$3/")
	c1=$(cpu "$2")
	rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
	local reqs
	reqs=$(awk '/requests in/{print $1}' <<<"$out")
	awk -v n="$1" -v r="$rps" -v c="$((c1 - c0))" -v q="$reqs" -v t="$tick" \
		'BEGIN{printf "%-12s %10.0f req/s  %6.1f us CPU/req\n", n, r, c / t * 1e6 / q}'
}
for i in $(seq "$ROUNDS"); do
	run direct "$(pgrep -n -f "$BIN/backend")" 18000
	run goproxy "$GOPROXY_PID" 18080
	run engine "$ENGINE_PID" 18081
done
