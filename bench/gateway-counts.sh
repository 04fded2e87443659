#!/usr/bin/env bash
# Counts per request, for one gateway under the Basic (or API key, or plain) load of the bench:
# the proxy's and the backend's system calls by name, the proxy's context switches, and the TCP
# segments and IP bytes on loopback. Unlike requests/s and CPU time, counts hardly move when
# other work shares the machine, so this compares two gateways (or two builds) on a busy host.
# Reuses what `WORK=dir bench/gateway-bench.sh` left in dir, as bench/gateway-ab.sh does.
#
#   WORK=/tmp/gb bench/gateway-counts.sh haproxy
#   WORK=/tmp/gb SCENARIO=key bench/gateway-counts.sh /tmp/portcullis
#   WORK=/tmp/gb SCENARIO=mtls bench/gateway-counts.sh haproxy
#
# WHAT: a portcullis binary, or "haproxy" (haproxy-basic-insecure.cfg, always asked for Basic;
# haproxy-mtls.cfg for SCENARIO=mtls).
# Knobs: SCENARIO=basic|key|plain|mtls (Portcullis' API; mtls: the bench's loadgen with the client
# certificate, reconnecting every MTLS_CONN_REQUESTS=100 requests with session resumption),
# DURATION=4 (seconds).
# Needs perf (linux-perf) with tracepoints and nstat (iproute2); run as root.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: WORK=dir $0 WHAT   (WHAT: a portcullis binary or haproxy)" >&2; exit 2; }
: "${WORK:?set WORK to the folder of a previous WORK=dir bench/gateway-bench.sh run}"
SCENARIO=${SCENARIO:-basic}
DURATION=${DURATION:-4}
for f in bin/backend bin/loadgen material/material.env run/haproxy-basic-insecure.cfg run/haproxy-mtls.cfg portcullis-data; do
	[ -e "$WORK/$f" ] || { echo "$WORK/$f is missing: run WORK=$WORK bench/gateway-bench.sh first" >&2; exit 2; }
done
for t in perf nstat wrk; do
	command -v "$t" >/dev/null || { echo "$t is missing (apt-get install linux-perf iproute2 wrk)" >&2; exit 2; }
done
# shellcheck disable=SC1091
source "$WORK/material/material.env"
BASIC="Authorization: Basic $(printf 'bench:%s' "$BENCH_PASSWORD" | base64 -w0)"
case $SCENARIO in
basic) HEADER=$BASIC ;;
key) HEADER="x-api-key: $BENCH_API_KEY" ;;
plain | mtls) HEADER="X-Bench: 1" ;;
*) echo "SCENARIO must be basic, key, plain or mtls" >&2; exit 2 ;;
esac
URL=http://127.0.0.1:18080
[ "$SCENARIO" = mtls ] && URL=https://127.0.0.1:18443
MTLS_CONN_REQUESTS=${MTLS_CONN_REQUESTS:-100}
OUT=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$OUT"
}
trap cleanup EXIT

"$WORK/bin/backend" -addr 127.0.0.1:18000 >/dev/null 2>&1 &
BACKEND=$!
PIDS+=("$BACKEND")
if [ "$1" = haproxy ] && [ "$SCENARIO" = mtls ]; then
	haproxy -f "$WORK/run/haproxy-mtls.cfg" >/dev/null 2>&1 &
	path=/ ca=$WORK/material/ca.crt
elif [ "$1" = haproxy ]; then
	haproxy -f "$WORK/run/haproxy-basic-insecure.cfg" >/dev/null 2>&1 &
	HEADER=$BASIC path=/
else
	"$1" serve --dev --data "$WORK/portcullis-data" --listen 127.0.0.1:18610 --metrics-listen off \
		--gateway-listen "$URL" >/dev/null 2>&1 &
	path=/$SCENARIO/ ca=$WORK/portcullis-data/tls/ca.pem
fi
PROXY=$!
PIDS+=("$PROXY")
for _ in $(seq 100); do
	curl -s -k -o /dev/null "$URL/" && break
	sleep 0.1
done
# load SECONDS: the scenario's load; prints the number of requests served.
load() {
	if [ "$SCENARIO" = mtls ]; then
		GOMAXPROCS=2 "$WORK/bin/loadgen" -url "$URL$path" -c 64 -d "${1}s" -timeout 10s -cacert "$ca" \
			-cert "$WORK/material/client.crt" -key "$WORK/material/client.key" -conn-requests "$MTLS_CONN_REQUESTS" |
			tail -1 | sed -E 's/.*"requests":([0-9]+).*/\1/'
	else
		wrk -t2 -c64 -d"${1}s" -H "$HEADER" "$URL$path" | awk '/requests in/{print $1}'
	fi
}
# The warm-up also lets a Go process start the threads it runs the load on: perf stat -p counts the
# threads there when it attaches, not those started later.
load 2 >/dev/null

# perf takes a while to attach to every thread, so the counters start well before the load and stop
# well after it; the idle seconds around it add a few calls, not per-request ones.
EVENTS='raw_syscalls:sys_enter,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_futex,syscalls:sys_enter_nanosleep,syscalls:sys_enter_clock_gettime,context-switches'
perf stat -e "$EVENTS" -p "$PROXY" -o "$OUT/proxy" -- sleep $((DURATION + 4)) &
P1=$!
perf stat -e "$EVENTS" -p "$BACKEND" -o "$OUT/backend" -- sleep $((DURATION + 4)) &
P2=$!
sleep 2
nstat -n
requests=$(load "$DURATION")
nstat >"$OUT/net"
wait "$P1" "$P2"

echo "$1, scenario $SCENARIO: $requests requests in ${DURATION}s; per request:"
per() { # FILE LABEL: the non-zero counters of a perf stat output, per request
	awk -v n="$requests" -v who="$2" '$2 ~ /^(raw_syscalls:|syscalls:|context-switches)/ {
		gsub(",", "", $1); name = $2; sub("syscalls:sys_enter_", "", name); sub("raw_syscalls:sys_enter", "all system calls", name)
		if ($1 > 0) printf "  %-8s %-20s %8.3f\n", who, name, $1 / n }' "$1"
}
per "$OUT/proxy" proxy
per "$OUT/backend" backend
awk -v n="$requests" '$1 ~ /^(TcpOutSegs|TcpExtTCPPureAcks|TcpActiveOpens|IpExtOutOctets)$/ { printf "  %-8s %-20s %8.3f\n", "loopback", $1, $2 / n }' "$OUT/net"
