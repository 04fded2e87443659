#!/usr/bin/env bash
# Token issuance over HTTPS: starts a dev server on loopback, registers an API,
# a client with a secret and a certificate and a grant, then drives the token
# endpoint with bench/tokenload by secret and by certificate assertion, and
# prints the server's CPU time for each run. Loopback only; bounded in time.
#
#   bench/token-bench.sh [DURATION] [CONNECTIONS]      (defaults 10s 16)
# PORTCULLIS_BIN=path runs that binary instead of building this tree (to put
# two versions side by side in one session).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
DUR=${1:-10s}; CONNS=${2:-16}; PORT=${PORT:-18600}
WORK=$(mktemp -d); SRV=; trap '[ -n "$SRV" ] && kill "$SRV" 2>/dev/null; rm -rf "$WORK"' EXIT
if [ -n "${PORTCULLIS_BIN:-}" ]; then cp "$PORTCULLIS_BIN" "$WORK/portcullis"; else go build -o "$WORK/portcullis" ./cmd/portcullis; fi
go build -o "$WORK/tokenload" ./bench/tokenload
"$WORK/portcullis" serve --dev --data "$WORK/data" --listen 127.0.0.1:$PORT >/dev/null 2>"$WORK/serve.log" &
SRV=$!
for _ in $(seq 1 50); do [ -f "$WORK/data/admin.json" ] && break; sleep 0.2; done
[ -f "$WORK/data/admin.json" ] || { echo "the dev server did not start within 10s:" >&2; cat "$WORK/serve.log" >&2; exit 1; }
P() { "$WORK/portcullis" --data "$WORK/data" "$@"; }
json() { python3 -c "import json,sys;print(json.load(sys.stdin)[\"$1\"])"; }
P app create bench-api --identifier-uri api://bench >/dev/null
P app role add bench-api --value Bench.Read >/dev/null
P app create bench-client >/dev/null
P grant add --client bench-client --resource bench-api --role Bench.Read >/dev/null
"$WORK/portcullis" cert create --subject CN=bench-client --out "$WORK/client" --password bench >/dev/null
P app cert add bench-client "$WORK/client.cer" >/dev/null
SECRET=$(P app secret add bench-client -o json | json secretText)
ID=$(P app show bench-client -o json | json appId)
TENANT=$(json tenantId < "$WORK/data/admin.json")
URL=https://127.0.0.1:$PORT/$TENANT/oauth2/v2.0/token
TCK=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' /proc/$SRV/stat; }
run() {
  local a b; a=$(cpu)
  "$WORK/tokenload" -url "$URL" -ca "$WORK/data/tls/ca.pem" -client-id "$ID" -scope api://bench/.default -c "$CONNS" -d "$DUR" "$@"
  b=$(cpu); echo "server CPU: $(awk -v d=$((b-a)) -v t=$TCK 'BEGIN{printf "%.2f", d/t}') s"
}
echo "== client secret (client_secret_post)"; TOKENLOAD_SECRET=$SECRET run
echo "== certificate assertion (PS256, x5t#S256; the load generator signs each assertion)"; run -cert "$WORK/client.pem"
