#!/usr/bin/env bash
# Gateway benchmark: Portcullis beside HAProxy, nginx and Caddy (Debian
# packages), each in front of the same loopback backend, driven by the same
# load generator per scenario group, in interleaved rounds; prints medians and
# the ratios of issue 7 (the median of each target's per-round ratios) with PASS/FAIL. All traffic stays on 127.0.0.1. The
# method is peer-bench's (../shared/reference/peer-bench, see bench/gateway/README.md).
#
#   bench/gateway-bench.sh                 install missing packages (root), build, run, summarize
#   SKIP_INSTALL=1 bench/gateway-bench.sh  never call apt-get
#
# Knobs (environment):
#   DURATION=10s       length of each measured run
#   SLOW_DURATION=20s  length of each measured run of the bcrypt scenario: at 64 connections its
#                      answers come in waves seconds apart, so a short run counts too few of them
#   WARMUP=2s          unmeasured warm-up before each scenario's runs
#   ROUNDS=3           every scenario is run ROUNDS times, interleaved (round 1 of all, then round 2
#                      backwards, ...)
#   ONLY=regex         run only scenarios whose name matches, e.g. ONLY='haproxy|nginx|caddy|direct'
#   MTLS_CONN_REQUESTS=100
#                      mTLS scenarios reconnect every N requests, resuming the TLS session (0: never)
#   BACKEND_PORT=18000 HTTP_PORT=18080 TLS_PORT=18443 PC_ADMIN_PORT=18610
#                      loopback ports: the backend, every proxy's HTTP and TLS listeners, Portcullis' own
#   PORTCULLIS_BIN=path  run that binary (default: build ./cmd/portcullis of this tree)
#   OUT=dir            results (default bench/results/gateway-UTCSTAMP): raw.jsonl, summary.md, versions.txt, logs/
#   WORK=dir           binaries, material, rendered configs, Portcullis data (default: a new /tmp folder, removed at exit);
#                      without Go on the machine, WORK/bin must hold the programs of bench/gateway, built elsewhere
#
# Every process the script starts is stopped by its PID at exit (TERM, then KILL after 5 s).
set -euo pipefail

# Paths given relative to the caller's directory, before moving to the repository root.
if [ -n "${PORTCULLIS_BIN:-}" ]; then PORTCULLIS_BIN=$(realpath -m "$PORTCULLIS_BIN"); fi
if [ -n "${OUT:-}" ]; then OUT=$(realpath -m "$OUT"); fi
if [ -n "${WORK:-}" ]; then WORK=$(realpath -m "$WORK"); fi
cd "$(dirname "$0")/.."
ROOT=$(pwd)
HERE=$ROOT/bench/gateway
export PATH="/usr/local/go/bin:$PATH"
DURATION=${DURATION:-10s}
SLOW_DURATION=${SLOW_DURATION:-20s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-3}
ONLY=${ONLY:-.}
MTLS_CONN_REQUESTS=${MTLS_CONN_REQUESTS:-100}
OUT=${OUT:-$ROOT/bench/results/gateway-$(date -u +%Y%m%dT%H%M%SZ)}
KEEP_WORK=1
if [ -z "${WORK:-}" ]; then
	WORK=$(mktemp -d /tmp/gateway-bench.XXXXXX)
	KEEP_WORK=0
fi
BIN=$WORK/bin
MAT=$WORK/material
RUN=$WORK/run
PCDATA=$WORK/portcullis-data
LOGS=$OUT/logs
BACKEND_PORT=${BACKEND_PORT:-18000}
HTTP_PORT=${HTTP_PORT:-18080}         # every proxy's plain-HTTP listener
TLS_PORT=${TLS_PORT:-18443}           # every proxy's mTLS listener
PC_ADMIN_PORT=${PC_ADMIN_PORT:-18610} # Portcullis' own HTTPS listener (token service, vault, admin API)

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	log "FATAL: $*"
	exit 1
}

# ---------------------------------------------------------------- scenarios
# name | group | baseline for "vs direct" | load tool | shapes | description
# A group shares one load generator; tput = 64 connections, lat = 8 connections.
# The two sides of each target run back to back (the API key run between Basic's reference and the
# diagnostic one), so that a host whose speed drifts over minutes moves both sides alike; even
# rounds run the list backwards, so that neither side is always first.
SCENARIOS=(
	"direct|a|direct|wrk|tput lat|wrk -> backend, no proxy"
	"haproxy-plain|b|direct|wrk|tput lat|HAProxy, no auth"
	"portcullis-plain|b|direct|wrk|tput lat|Portcullis gateway, API without inbound auth"
	"nginx-plain|b|direct|wrk|tput lat|nginx, no auth"
	"caddy-plain|b|direct|wrk|tput lat|Caddy, no auth"
	"portcullis-basic|c|direct|wrk|tput|Portcullis Basic, password from the vault (plain HTTP allowed)"
	"haproxy-basic-insecure|c|direct|wrk|tput|HAProxy userlist insecure-password (plain-text compare)"
	"portcullis-apikey|c|direct|wrk|tput|Portcullis API key in x-api-key, key from the vault (plain HTTP allowed)"
	"haproxy-basic-headers|c|direct|wrk|tput|HAProxy userlist as above + the headers Portcullis sends (forwarding, identity, request id; credential removed)"
	"caddy-basic-bcrypt|c|direct|wrk|tput|Caddy basicauth bcrypt cost 10, hash_cache off"
	"haproxy-jwt|d|direct|wrk|tput|HAProxy jwt_verify RS256 + alg/iss/aud/exp/role checks"
	"portcullis-jwt|d|direct|wrk|tput|Portcullis bearer RS256 from its own tenant + audience + role"
	"portcullis-oidc-jwt|d|direct|wrk|tput|Portcullis bearer RS256, the same tokens, the issuer trusted by its OIDC discovery URL as an external IdP (Entra ID) is"
	"direct-lg|e|direct-lg|loadgen|tput|loadgen -> backend, plain HTTP"
	"haproxy-mtls|e|direct-lg|loadgen|tput|HAProxy TLS + required client certificate, tickets"
	"portcullis-mtls|e|direct-lg|loadgen|tput|Portcullis TLS + client certificate from the bench CA"
	"nginx-mtls|e|direct-lg|loadgen|tput|nginx TLS + ssl_verify_client on, tickets"
)
selected() { [[ ${1%%|*} =~ $ONLY ]]; }
want() { # want PREFIX: is any selected scenario's name starting with PREFIX?
	local s
	for s in "${SCENARIOS[@]}"; do
		if selected "$s" && [[ $s == "$1"* ]]; then return 0; fi
	done
	return 1
}
any_selected=0
for s in "${SCENARIOS[@]}"; do selected "$s" && any_selected=1; done
[ "$any_selected" = 1 ] || die "ONLY='$ONLY' matches no scenario"

# ---------------------------------------------------------------- processes
declare -a STARTED=()
# stop_pid PID: TERM, up to 5 s grace, then KILL; only ever PIDs this script started.
stop_pid() {
	local pid=$1 p keep=()
	for p in "${STARTED[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
	STARTED=("${keep[@]}")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
	fi
	wait "$pid" 2>/dev/null || true
}
cleanup() {
	local p
	for p in "${STARTED[@]}"; do stop_pid "$p"; done
	if [ "$KEEP_WORK" = 0 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# wait_port PORT [PID LOG]: until something listens; fails early if PID exited.
wait_port() {
	for _ in $(seq 150); do
		port_open "$1" && return 0
		if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then
			[ -n "${3:-}" ] && tail -n 20 "$3" >&2
			die "the process started for 127.0.0.1:$1 exited (log: ${3:-none})"
		fi
		sleep 0.1
	done
	die "nothing listening on 127.0.0.1:$1 after 15 s"
}
wait_port_free() {
	for _ in $(seq 100); do
		port_open "$1" || return 0
		sleep 0.1
	done
	die "127.0.0.1:$1 still in use"
}

# cpu_seconds PID: user+system CPU used so far by PID (all threads) and its
# direct children (nginx workers are children of the master).
cpu_seconds() {
	local pid=$1 t=0 c f hz
	hz=$(getconf CLK_TCK)
	for c in $pid $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
		f=$(cut -d')' -f2- /proc/"$c"/stat 2>/dev/null) || continue
		# fields after "comm)": state=1 ... utime=12 stime=13
		t=$((t + $(echo "$f" | awk '{print $12 + $13}')))
	done
	awk -v t="$t" -v hz="$hz" 'BEGIN{printf "%.2f", t/hz}'
}

# system_ticks: busy, softirq and idle jiffies of the whole machine so far
# (from /proc/stat: user nice system irq softirq steal; softirq alone; idle
# and iowait), so that a run's CPU can be split into the proxy, the backend,
# softirq (loopback packet delivery) and the rest (the load generator, and
# anything else running: meaningful on an idle machine only), and the time
# the cores had nothing to run.
system_ticks() {
	awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $8, $5+$6}' /proc/stat
}

# drain PID: wait until the process under test is idle again. bcrypt proxies
# keep hashing requests queued by a run that already ended; without this the
# backlog would be charged to the next run.
drain() {
	local a b
	for _ in $(seq 120); do
		a=$(cpu_seconds "$1")
		sleep 0.5
		b=$(cpu_seconds "$1")
		awk -v a="$a" -v b="$b" 'BEGIN{exit !(b - a < 0.03)}' && return 0
	done
	log "warning: PID $1 still busy after 60 s"
}

# check_gateway_cli: the binary must have the gateway (issue 7): 'api create'
# with the flags below and 'serve --gateway-listen'.
check_gateway_cli() {
	local out missing=() f
	out=$("$PC" serve --help 2>&1 || true)
	[[ $out == *--gateway-listen* ]] || missing+=("serve --gateway-listen")
	out=$("$PC" api create --help 2>&1 || true)
	if [[ $out != *--path-prefix* ]]; then
		missing+=("the 'api create' command")
	else
		for f in --anonymous --backend --basic-user --api-key-header --api-key --allow-insecure-auth --bearer-tenant --audience --role --client-ca; do
			[[ $out == *"$f"* ]] || missing+=("api create $f")
		done
	fi
	[ "${#missing[@]}" = 0 ] && return 0
	die "${PORTCULLIS_BIN:-./cmd/portcullis} has no gateway yet (missing: $(printf '%s; ' "${missing[@]}" | sed 's/; $//')). The Portcullis scenarios need a build with issue 7's gateway: set PORTCULLIS_BIN to one, or measure the peers alone with ONLY='haproxy|nginx|caddy|direct'."
}

# ---------------------------------------------------------------- 1. packages
install_packages() {
	local pkgs=(wrk haproxy nginx caddy openssl jq curl util-linux procps ca-certificates) missing=() p made_policy=0
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ "${#missing[@]}" = 0 ] && return 0
	[ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]}; run as root, or install them and set SKIP_INSTALL=1"
	export DEBIAN_FRONTEND=noninteractive
	# Keep apt from starting the distribution's nginx/haproxy/caddy services: this
	# script runs its own instances on 127.0.0.1 only.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		made_policy=1
	fi
	log "installing ${missing[*]}"
	apt-get update -q >&2
	apt-get install -y -q "${missing[@]}" >&2
	if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
}
if [ "${SKIP_INSTALL:-0}" != 1 ]; then install_packages; fi
for t in wrk openssl jq curl; do command -v "$t" >/dev/null || die "$t not found"; done
if want haproxy; then command -v haproxy >/dev/null || die "haproxy not found"; fi
if want nginx; then command -v nginx >/dev/null || die "nginx not found"; fi
if want caddy; then command -v caddy >/dev/null || die "caddy not found"; fi

# ---------------------------------------------------------------- 2. build + material
mkdir -p "$BIN" "$RUN" "$OUT" "$LOGS"
rm -rf "$MAT" && mkdir -p "$MAT"
if command -v go >/dev/null; then
	log "building the bench programs"
	go build -trimpath -o "$BIN/" ./bench/gateway/backend ./bench/gateway/loadgen ./bench/gateway/genmaterial ./bench/gateway/summarize
else # a machine without Go runs programs built elsewhere
	for t in backend loadgen genmaterial summarize; do
		[ -x "$BIN/$t" ] || die "go not found, and no $BIN/$t: install Go, or set WORK to a folder whose bin/ holds the programs of 'go build -o WORK/bin/ ./bench/gateway/...'"
	done
	log "go not found: using the bench programs in $BIN"
fi
PC=$BIN/portcullis
if want portcullis; then
	if [ -n "${PORTCULLIS_BIN:-}" ]; then
		[ -x "$PORTCULLIS_BIN" ] || die "PORTCULLIS_BIN=$PORTCULLIS_BIN is not an executable file"
		cp "$PORTCULLIS_BIN" "$PC"
	else
		command -v go >/dev/null || die "go not found: set PORTCULLIS_BIN to a portcullis binary"
		log "building ./cmd/portcullis"
		go build -trimpath -o "$PC" ./cmd/portcullis
	fi
	check_gateway_cli
fi
log "generating test material in $MAT"
"$BIN/genmaterial" -out "$MAT" -bcrypt-cost 10
# shellcheck disable=SC1091
source "$MAT/material.env"
chmod 755 "$WORK" "$MAT" "$RUN" # nginx workers run as nobody

render() { # render TEMPLATE OUTPUT
	sed -e "s|@MAT@|$MAT|g" -e "s|@RUN@|$RUN|g" -e "s|@WORKERS@|2|g" -e "s|@BACKEND_PORT@|$BACKEND_PORT|g" \
		-e "s|@HTTP_PORT@|$HTTP_PORT|g" -e "s|@TLS_PORT@|$TLS_PORT|g" \
		-e "s|@PASSWORD@|$BENCH_PASSWORD|g" -e "s|@BCRYPT_HASH_B64@|$BENCH_BCRYPT_HASH_B64|g" \
		"$HERE/configs/$1" >"$RUN/$2"
}
render_configs() {
	local f b
	for f in "$HERE"/configs/haproxy-*.cfg "$HERE"/configs/nginx-*.conf; do
		b=$(basename "$f")
		render "$b" "$b"
	done
	if want haproxy; then
		for f in "$RUN"/haproxy-*.cfg; do haproxy -c -q -f "$f" || die "bad config $f"; done
	fi
	if want nginx; then
		for f in "$RUN"/nginx-*.conf; do nginx -q -t -c "$f" 2>>"$LOGS/nginx-t.log" || die "bad config $f (see $LOGS/nginx-t.log)"; done
	fi
	if want caddy; then
		render caddy-plain.Caddyfile caddy-plain.Caddyfile
		render caddy-basic-bcrypt.Caddyfile caddy-basic-bcrypt.Caddyfile
		caddy adapt --config "$RUN/caddy-plain.Caddyfile" --adapter caddyfile >"$RUN/caddy-plain.json" 2>>"$LOGS/caddy-adapt.log"
		# The Caddyfile adapter turns on hash_cache (plaintext -> verified, in memory);
		# the benchmark measures bcrypt itself, as configured without the cache.
		caddy adapt --config "$RUN/caddy-basic-bcrypt.Caddyfile" --adapter caddyfile 2>>"$LOGS/caddy-adapt.log" |
			jq 'walk(if type == "object" then del(.hash_cache) else . end)' >"$RUN/caddy-basic-bcrypt.json"
		! grep -q hash_cache "$RUN/caddy-basic-bcrypt.json" || die "hash_cache still in the Caddy bcrypt config"
	fi
}

# ---------------------------------------------------------------- 3. Portcullis
P() { "$PC" --data "$PCDATA" "$@"; }

# start_portcullis: serve --dev on the data folder, gateway on the proxies' ports.
start_portcullis() {
	local p
	# SSL_CERT_FILE: the gateway fetches the OIDC discovery document and keys of
	# portcullis-oidc-jwt's issuer (this server) over HTTPS, which its dev CA signed.
	SSL_CERT_FILE="$PCDATA/tls/ca.pem" "$PC" serve --dev --data "$PCDATA" --listen "127.0.0.1:$PC_ADMIN_PORT" --metrics-listen off \
		--gateway-listen "http://127.0.0.1:$HTTP_PORT" --gateway-listen "https://127.0.0.1:$TLS_PORT" \
		>>"$LOGS/portcullis.log" 2>&1 &
	PROXY_PID=$!
	STARTED+=("$PROXY_PID")
	for p in "$PC_ADMIN_PORT" "$HTTP_PORT" "$TLS_PORT"; do wait_port "$p" "$PROXY_PID" "$LOGS/portcullis.log"; done
}

# setup_portcullis: once, before the rounds: a vault with the Basic password and
# the API key, a resource app with a role, a client granted that role, and one
# API per scenario, all behind the same backend. Each scenario then restarts
# serve on this data folder (like the peers, a fresh process per run).
setup_portcullis() {
	log "setting up Portcullis in $PCDATA"
	# The material (password, API key, CA) was made anew above: a data folder of an earlier
	# run of the same WORK holds the old ones.
	rm -rf "$PCDATA"
	start_portcullis
	[ -f "$PCDATA/admin.json" ] || die "serve --dev wrote no $PCDATA/admin.json"
	local be="http://127.0.0.1:$BACKEND_PORT" p
	step vault create bench
	printf '%s' "$BENCH_PASSWORD" | step secret set basic-password --vault bench --value -
	printf '%s' "$BENCH_API_KEY" | step secret set api-key --vault bench --value -
	step app create bench-api --identifier-uri api://bench-gateway
	step app role add bench-api --value Orders.Read
	step app create bench-client
	step grant add --client bench-client --resource bench-api --role Orders.Read
	PC_CLIENT_SECRET=$(P app secret add bench-client -o json | jq -er .secretText) || die "portcullis app secret add bench-client failed"
	PC_CLIENT_ID=$(P app show bench-client -o json | jq -er .appId) || die "portcullis app show bench-client failed"
	# Portcullis access tokens carry the resource's appId as aud.
	PC_AUDIENCE=$(P app show bench-api -o json | jq -er .appId) || die "portcullis app show bench-api failed"
	step api create plain --path-prefix /plain --backend "$be" --anonymous
	step api create basic --path-prefix /basic --backend "$be" \
		--basic-user "$BENCH_USER=vault://bench/secrets/basic-password" --allow-insecure-auth
	step api create apikey --path-prefix /key --backend "$be" \
		--api-key-header x-api-key --api-key k1=vault://bench/secrets/api-key --allow-insecure-auth
	step api create jwt --path-prefix /jwt --backend "$be" \
		--bearer-tenant default --audience "$PC_AUDIENCE" --role Orders.Read
	step api create mtls --path-prefix /mtls --backend "$be" --client-ca "$MAT/ca.crt"
	# The tenant's own tokens, its issuer trusted as any OIDC issuer is: by discovery and JWKS over HTTPS.
	local tok iss
	tok=$(portcullis_token) || die "no token for bench-client (see $LOGS/portcullis-setup.log)"
	iss=$(b64url_decode "$(cut -d. -f2 <<<"$tok")" | jq -er .iss) || die "the token of bench-client has no iss"
	step api create oidc-jwt --path-prefix /oidcjwt --backend "$be" \
		--bearer-issuer "$iss" --audience "$PC_AUDIENCE" --role Orders.Read
	stop_pid "$PROXY_PID"
	for p in "$PC_ADMIN_PORT" "$HTTP_PORT" "$TLS_PORT"; do wait_port_free "$p"; done
}

# b64url_decode S: the bytes of unpadded base64url S (a JWT part).
b64url_decode() {
	local s=${1//-/+}
	s=${s//_//}
	while ((${#s} % 4)); do s+="="; done
	printf '%s' "$s" | base64 -d
}

# step ARGS...: one CLI call of the setup; its output goes to the setup log.
step() {
	P "$@" >>"$LOGS/portcullis-setup.log" 2>&1 || die "portcullis $1 $2 $3 failed (see $LOGS/portcullis-setup.log)"
}

# portcullis_token: a fresh RS256 token for bench-client from the running server.
portcullis_token() {
	PORTCULLIS_CLIENT_SECRET=$PC_CLIENT_SECRET P token get --client-id "$PC_CLIENT_ID" \
		--scope api://bench-gateway/.default 2>>"$LOGS/portcullis-setup.log"
}

# ---------------------------------------------------------------- 4. one scenario
# start_proxy NAME: sets PROXY_PID (empty for direct), PORT and URL.
start_proxy() {
	local name=$1
	PROXY_PID=
	PORT=$HTTP_PORT
	case $name in *-mtls) PORT=$TLS_PORT ;; esac
	URL=http://127.0.0.1:$PORT/
	case $name in
	direct | direct-lg)
		PORT=$BACKEND_PORT
		URL=http://127.0.0.1:$PORT/
		return 0
		;;
	haproxy-*) haproxy -db -f "$RUN/$name.cfg" >>"$LOGS/$name.log" 2>&1 & ;;
	nginx-*) nginx -c "$RUN/$name.conf" -g 'daemon off;' >>"$LOGS/$name.log" 2>&1 & ;;
	caddy-*) # XDG_*: keep Caddy's autosave/data files inside $RUN
		env XDG_CONFIG_HOME="$RUN/xdg-config" XDG_DATA_HOME="$RUN/xdg-data" \
			caddy run --config "$RUN/$name.json" >>"$LOGS/$name.log" 2>&1 &
		;;
	portcullis-*)
		start_portcullis
		case $name in
		portcullis-plain) URL=http://127.0.0.1:$PORT/plain/ ;;
		portcullis-basic) URL=http://127.0.0.1:$PORT/basic/ ;;
		portcullis-apikey) URL=http://127.0.0.1:$PORT/key/ ;;
		portcullis-jwt | portcullis-oidc-jwt)
			URL=http://127.0.0.1:$PORT/jwt/
			[ "$name" = portcullis-oidc-jwt ] && URL=http://127.0.0.1:$PORT/oidcjwt/
			PC_TOKEN=$(portcullis_token) || die "no token for bench-client (see $LOGS/portcullis-setup.log)"
			;;
		portcullis-mtls) URL=https://127.0.0.1:$PORT/mtls/ ;;
		esac
		return 0
		;;
	*) die "unknown scenario $name" ;;
	esac
	PROXY_PID=$!
	STARTED+=("$PROXY_PID")
	wait_port "$PORT" "$PROXY_PID" "$LOGS/$name.log"
	case $name in *-mtls) URL=https://127.0.0.1:$PORT/ ;; esac
}

# server_ca NAME: the CA that signed the listener's certificate.
server_ca() {
	case $1 in
	portcullis-*) echo "$PCDATA/tls/ca.pem" ;;
	*) echo "$MAT/ca.crt" ;;
	esac
}

# auth_header NAME: the credential header of the scenario, or nothing.
auth_header() {
	case $1 in
	*-basic*) echo "Authorization: $BENCH_BASIC_HEADER" ;;
	portcullis-apikey) echo "x-api-key: $BENCH_API_KEY" ;;
	portcullis-jwt | portcullis-oidc-jwt) echo "Authorization: Bearer $PC_TOKEN" ;;
	*-jwt) echo "Authorization: Bearer $BENCH_JWT_VALID" ;;
	esac
}

code() { curl -s -o /dev/null -m 5 -w '%{http_code}' "$@" || true; }
expect() { # expect WANT DESC curl-args...; WANT is a status or "deny" (anything but 200)
	local want=$1 desc=$2 got
	shift 2
	got=$(code "$@")
	case $want in
	deny) [ "$got" != 200 ] || die "sanity: $desc: got 200, want a refusal" ;;
	*) [ "$got" = "$want" ] || die "sanity: $desc: got $got, want $want" ;;
	esac
}
# expect_ok DESC curl-args...: 200 within 10 s (a restarted gateway may still be loading its APIs).
expect_ok() {
	local desc=$1 got
	shift
	for _ in $(seq 100); do
		got=$(code "$@")
		[ "$got" = 200 ] && return 0
		sleep 0.1
	done
	die "sanity: $desc: got $got, want 200"
}

# sanity NAME: before measuring, the right credential passes and wrong ones are refused.
sanity() {
	local name=$1 hdr ca
	hdr=$(auth_header "$name")
	ca=$(server_ca "$name")
	case $name in
	*-mtls)
		expect_ok "$name client certificate" --cacert "$ca" --cert "$MAT/client.crt" --key "$MAT/client.key" "$URL"
		expect deny "$name without client certificate" --cacert "$ca" "$URL"
		expect deny "$name certificate from another CA" --cacert "$ca" --cert "$MAT/rogue-client.crt" --key "$MAT/rogue-client.key" "$URL"
		;;
	*-basic*)
		expect_ok "$name right password" -H "$hdr" "$URL"
		expect 401 "$name wrong password" -H "Authorization: $BENCH_BAD_BASIC_HEADER" "$URL"
		expect 401 "$name no credentials" "$URL"
		;;
	portcullis-apikey)
		expect_ok "$name right key" -H "$hdr" "$URL"
		expect 401 "$name wrong key" -H "x-api-key: not-$BENCH_API_KEY" "$URL"
		expect 401 "$name no key" "$URL"
		;;
	*-jwt)
		expect_ok "$name valid token" -H "$hdr" "$URL"
		expect deny "$name expired token" -H "Authorization: Bearer $BENCH_JWT_EXPIRED" "$URL"
		expect deny "$name bad signature" -H "Authorization: Bearer $BENCH_JWT_BAD_SIG" "$URL"
		expect deny "$name no token" "$URL"
		if [[ $name == portcullis-* ]]; then
			expect deny "$name token of another issuer" -H "Authorization: Bearer $BENCH_JWT_VALID" "$URL"
		else
			expect deny "$name wrong audience" -H "Authorization: Bearer $BENCH_JWT_WRONG_AUD" "$URL"
		fi
		;;
	*) expect_ok "$name" "$URL" ;;
	esac
}

# load TOOL SHAPE NAME DURATION: prints the tool's JSON line.
load() {
	local tool=$1 shape=$2 name=$3 dur=$4 hdr threads conns args
	hdr=$(auth_header "$name")
	if [ "$shape" = tput ]; then threads=2 conns=64; else threads=1 conns=8; fi
	if [ "$tool" = wrk ]; then
		args=(-t"$threads" -c"$conns" -d"$dur" --timeout 10s --latency -s "$HERE/wrk/report.lua")
		[ -n "$hdr" ] && args+=(-H "$hdr")
		echo "+ wrk ${args[*]} $URL" | sed -E 's/(Authorization: [^ ]+|x-api-key:) [^ ]+/\1 <redacted>/' >>"$LOGS/load.log"
		wrk "${args[@]}" "$URL" | tee -a "$LOGS/load.log" | grep '^{"tool"' | tail -1
	else
		args=(-url "$URL" -c "$conns" -d "$dur" -timeout 10s)
		case $name in
		*-mtls) args+=(-cacert "$(server_ca "$name")" -cert "$MAT/client.crt" -key "$MAT/client.key" -conn-requests "$MTLS_CONN_REQUESTS") ;;
		esac
		[ -n "$hdr" ] && args+=(-H "$hdr")
		echo "+ GOMAXPROCS=$threads loadgen ${args[*]}" | sed -E 's/(Authorization: [^ ]+|x-api-key:) [^ ]+/\1 <redacted>/' >>"$LOGS/load.log"
		GOMAXPROCS=$threads "$BIN/loadgen" "${args[@]}" | tee -a "$LOGS/load.log" | tail -1
	fi
}

run_scenario() { # run_scenario ROUND SPEC
	local round=$1 name group base tool shapes desc shape j c0 c1 b0 b1 s0 s1 q0 q1 i0 i1 hz cpu bcpu scpu qcpu icpu errs target dur=$DURATION
	IFS='|' read -r name group base tool shapes desc <<<"$2"
	case $name in *bcrypt*) dur=$SLOW_DURATION ;; esac
	start_proxy "$name"
	sanity "$name"
	load "$tool" tput "$name" "$WARMUP" >/dev/null
	target=${PROXY_PID:-$BACKEND_PID}
	for shape in $shapes; do
		drain "$target"
		c0=$(cpu_seconds "$target")
		b0=$(cpu_seconds "$BACKEND_PID")
		read -r s0 q0 i0 < <(system_ticks)
		j=$(load "$tool" "$shape" "$name" "$dur")
		c1=$(cpu_seconds "$target")
		b1=$(cpu_seconds "$BACKEND_PID")
		read -r s1 q1 i1 < <(system_ticks)
		[ -n "$j" ] || die "no result from $tool for $name"
		cpu=$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b-a}')
		bcpu=$(awk -v a="$b0" -v b="$b1" 'BEGIN{printf "%.2f", b-a}')
		hz=$(getconf CLK_TCK)
		scpu=$(awk -v a="$s0" -v b="$s1" -v hz="$hz" 'BEGIN{printf "%.2f", (b-a)/hz}')
		qcpu=$(awk -v a="$q0" -v b="$q1" -v hz="$hz" 'BEGIN{printf "%.2f", (b-a)/hz}')
		icpu=$(awk -v a="$i0" -v b="$i1" -v hz="$hz" 'BEGIN{printf "%.2f", (b-a)/hz}')
		errs=$(jq -r '.err_connect + .err_read + .err_write + .err_timeout + .err_status' <<<"$j")
		jq -c --argjson round "$round" --arg scenario "$name" --arg group "$group" --arg base "$base" \
			--arg shape "$shape" --arg desc "$desc" --argjson cpu "$cpu" --argjson errors "$errs" \
			--argjson bcpu "$bcpu" --argjson scpu "$scpu" --argjson qcpu "$qcpu" --argjson icpu "$icpu" \
			'. + {round: $round, scenario: $scenario, group: $group, base: $base, shape: $shape, desc: $desc, proxy_cpu_s: $cpu, backend_cpu_s: $bcpu, system_cpu_s: $scpu, softirq_cpu_s: $qcpu, idle_cpu_s: $icpu, errors: $errors}' \
			<<<"$j" >>"$OUT/raw.jsonl"
		log "  r$round $name $shape: $(jq -r '"\(.rps|floor) req/s p50 \(.p50_us/10|round/100) ms p99 \(.p99_us/10|round/100) ms" + (if .tls_handshakes then " tls \(.tls_resumed)/\(.tls_handshakes) resumed" else "" end)' <<<"$j") cpu=${cpu}s errors=$errs"
	done
	if [ -n "$PROXY_PID" ]; then stop_pid "$PROXY_PID"; fi
	wait_port_free "$HTTP_PORT"
	wait_port_free "$TLS_PORT"
	wait_port_free "$PC_ADMIN_PORT"
}

# ---------------------------------------------------------------- 5. run
for p in "$BACKEND_PORT" "$HTTP_PORT" "$TLS_PORT" "$PC_ADMIN_PORT"; do
	if port_open "$p"; then die "127.0.0.1:$p is already in use"; fi
done
render_configs
{
	echo "date: $(date -u +%FT%TZ)"
	echo "kernel: $(uname -srm)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
	if command -v go >/dev/null; then echo "go: $(go version)"; fi
	if want haproxy; then echo "haproxy: $(haproxy -v | head -1)"; fi
	if want nginx; then echo "nginx: $(nginx -v 2>&1)"; fi
	if want caddy; then echo "caddy: $(caddy version)"; fi
	echo "wrk: $(wrk -v 2>&1 | head -1)"
	if want portcullis; then echo "portcullis: ${PORTCULLIS_BIN:-./cmd/portcullis at $(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"; fi
	echo "duration=$DURATION slow_duration=$SLOW_DURATION warmup=$WARMUP rounds=$ROUNDS only=$ONLY mtls_conn_requests=$MTLS_CONN_REQUESTS"
} >"$OUT/versions.txt"

"$BIN/backend" -addr "127.0.0.1:$BACKEND_PORT" >>"$LOGS/backend.log" 2>&1 &
BACKEND_PID=$!
STARTED+=("$BACKEND_PID")
wait_port "$BACKEND_PORT" "$BACKEND_PID" "$LOGS/backend.log"
if want portcullis; then setup_portcullis; fi

: >"$OUT/raw.jsonl"
: >"$LOGS/load.log"
start_ts=$(date +%s)
for round in $(seq "$ROUNDS"); do
	order=("${SCENARIOS[@]}")
	if ((round % 2 == 0)); then
		order=()
		for ((i = ${#SCENARIOS[@]} - 1; i >= 0; i--)); do order+=("${SCENARIOS[i]}"); done
	fi
	for spec in "${order[@]}"; do
		selected "$spec" || continue
		run_scenario "$round" "$spec"
	done
done
log "measurements took $(($(date +%s) - start_ts)) s"
{
	echo "## Gateway benchmark, $(date -u +%FT%TZ)"
	echo
	echo "\`bench/gateway-bench.sh\` with DURATION=$DURATION SLOW_DURATION=$SLOW_DURATION WARMUP=$WARMUP ROUNDS=$ROUNDS ONLY='$ONLY' MTLS_CONN_REQUESTS=$MTLS_CONN_REQUESTS; versions in versions.txt."
	"$BIN/summarize" -in "$OUT/raw.jsonl"
} >"$OUT/summary.md"
log "summary written to $OUT/summary.md"
cat "$OUT/summary.md"
