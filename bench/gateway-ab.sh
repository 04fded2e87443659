#!/usr/bin/env bash
# Alternating A/B of two gateways on one scenario, for a change too small for the full
# bench's spread: A, B, A, B, ... each a fresh process, and per run the requests/s and the
# proxy's CPU per request (user+system from /proc/PID/stat) and the machine's idle share. Reuses what
# `WORK=dir bench/gateway-bench.sh` left in dir (the backend, the material, the rendered
# HAProxy configurations and the Portcullis data folder with its APIs).
#
#   WORK=/tmp/gb bench/gateway-bench.sh                       once, to set dir up (ONLY=... keeps it short)
#   WORK=/tmp/gb bench/gateway-ab.sh /tmp/portcullis-old /tmp/portcullis-new
#   WORK=/tmp/gb SCENARIO=key bench/gateway-ab.sh haproxy /tmp/portcullis-new
#
# A and B: a portcullis binary, or "haproxy" (haproxy-basic-insecure.cfg, always asked
# for Basic, the reference of issue 7's Basic and API key targets).
# Knobs: SCENARIO=basic|key|plain (Portcullis' API), ROUNDS=3, DURATION=8s.
# Run it on an otherwise idle machine; every process it starts is stopped at exit.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: WORK=dir $0 A B   (A, B: a portcullis binary or haproxy)" >&2; exit 2; }
: "${WORK:?set WORK to the folder of a previous WORK=dir bench/gateway-bench.sh run}"
SCENARIO=${SCENARIO:-basic}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8s}
for f in bin/backend material/material.env run/haproxy-basic-insecure.cfg portcullis-data; do
	[ -e "$WORK/$f" ] || { echo "$WORK/$f is missing: run WORK=$WORK bench/gateway-bench.sh first" >&2; exit 2; }
done
# shellcheck disable=SC1091
source "$WORK/material/material.env"
BASIC="Authorization: Basic $(printf 'bench:%s' "$BENCH_PASSWORD" | base64 -w0)"
case $SCENARIO in
basic) PC_HEADER=$BASIC ;;
key) PC_HEADER="x-api-key: $BENCH_API_KEY" ;;
plain) PC_HEADER="X-Bench: 1" ;;
*) echo "SCENARIO must be basic, key or plain" >&2; exit 2 ;;
esac
URL=http://127.0.0.1:18080

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
"$WORK/bin/backend" -addr 127.0.0.1:18000 >/dev/null 2>&1 &
PIDS+=($!)

wait_up() {
	for _ in $(seq 100); do
		curl -s -o /dev/null "$URL/" && return 0
		sleep 0.1
	done
	echo "the gateway did not come up on $URL" >&2
	exit 1
}

# idle_ticks: the machine's idle (+iowait) and total CPU ticks so far, from /proc/stat.
idle_ticks() { awk '/^cpu /{t=0; for (i=2; i<=NF; i++) t+=$i; print $5+$6, t}' /proc/stat; }

# run WHAT: one measured run; prints "requests/s µs-of-proxy-CPU-per-request machine-idle-%".
run() {
	local what=$1 pid header path
	if [ "$what" = haproxy ]; then
		haproxy -f "$WORK/run/haproxy-basic-insecure.cfg" >/dev/null 2>&1 &
		pid=$!
		header=$BASIC path=/
	else
		"$what" serve --dev --data "$WORK/portcullis-data" --listen 127.0.0.1:18610 --metrics-listen off \
			--gateway-listen "$URL" >/dev/null 2>&1 &
		pid=$!
		header=$PC_HEADER path=/$SCENARIO/
	fi
	PIDS+=("$pid")
	wait_up
	wrk -t2 -c64 -d1s -H "$header" "$URL$path" >/dev/null
	local t0 t1 rps i0 a0 i1 a1
	t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
	read -r i0 a0 <<<"$(idle_ticks)"
	rps=$(wrk -t2 -c64 -d"$DURATION" -H "$header" "$URL$path" | awk '/Requests\/sec/{print $2}')
	read -r i1 a1 <<<"$(idle_ticks)"
	t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	local ticks secs
	ticks=$(getconf CLK_TCK)
	secs=${DURATION%s}
	awk -v r="$rps" -v d="$((t1 - t0))" -v hz="$ticks" -v s="$secs" -v idle="$((i1 - i0))" -v all="$((a1 - a0))" \
		'BEGIN{printf "%.0f %.2f %.1f", r, d/hz*1e6/(r*s), 100*idle/all}'
}

echo "scenario $SCENARIO, $ROUNDS rounds of $DURATION; A=$1 B=$2"
for r in $(seq "$ROUNDS"); do
	read -r ra ca ia <<<"$(run "$1")"
	read -r rb cb ib <<<"$(run "$2")"
	awk -v r="$r" -v ra="$ra" -v ca="$ca" -v ia="$ia" -v rb="$rb" -v cb="$cb" -v ib="$ib" \
		'BEGIN{printf "round %d  A %6d req/s %5.2f us/req idle %4.1f%%   B %6d req/s %5.2f us/req idle %4.1f%%   B/A %.3f\n", r, ra, ca, ia, rb, cb, ib, rb/ra}'
done
