#!/usr/bin/env bash
# Key Vault secret GET and SET over HTTPS with bearer auth: starts a dev
# server on loopback (SQLite), then drives it with bench/vaultload for each
# operation and connection count, and prints the server's CPU use (cores,
# from /proc/PID/stat utime+stime) and the throughput per server core: the
# load generator shares the machine's cores with the server. Loopback only;
# bounded in time.
#
#   bench/vault-bench.sh [DURATION] [CONNECTIONS...]    (defaults 10s 16 64)
# PORTCULLIS_BIN=path runs that binary instead of building this tree (to put
# two versions side by side in one session).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
DUR=${1:-10s}; shift || true; CONNS=${*:-16 64}; PORT=${PORT:-18444}
WORK=$(mktemp -d); SRV=; trap '[ -n "$SRV" ] && kill "$SRV" 2>/dev/null; rm -rf "$WORK"' EXIT
if [ -n "${PORTCULLIS_BIN:-}" ]; then cp "$PORTCULLIS_BIN" "$WORK/portcullis"; else go build -o "$WORK/portcullis" ./cmd/portcullis; fi
go build -o "$WORK/vaultload" ./bench/vaultload
"$WORK/portcullis" serve --dev --data "$WORK/data" --listen 127.0.0.1:$PORT >/dev/null 2>"$WORK/serve.log" &
SRV=$!
for _ in $(seq 1 50); do [ -f "$WORK/data/admin.json" ] && break; sleep 0.2; done
[ -f "$WORK/data/admin.json" ] || { echo "the dev server did not start within 10s:" >&2; cat "$WORK/serve.log" >&2; exit 1; }
TCK=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' /proc/$SRV/stat; }
for op in get set; do
  for c in $CONNS; do
    "$WORK/vaultload" -data "$WORK/data" -op $op -c 4 -d 1s >/dev/null # warm-up: token, first version
    a=$(cpu); t0=$(date +%s.%N)
    out=$("$WORK/vaultload" -data "$WORK/data" -op $op -c "$c" -d "$DUR")
    b=$(cpu); t1=$(date +%s.%N)
    echo "== $op, $c connections"
    echo "$out" | grep -v '^token:'
    rps=$(echo "$out" | awk '/^throughput:/ {print $2}')
    awk -v d=$((b-a)) -v t="$TCK" -v t0="$t0" -v t1="$t1" -v r="$rps" \
      'BEGIN{c=d/t/(t1-t0); printf "server CPU: %.2f cores; %.0f req/s per server core\n", c, (c > 0 ? r/c : 0)}'
  done
done
