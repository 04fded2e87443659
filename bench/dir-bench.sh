#!/usr/bin/env bash
# Admin writes as the directory grows: starts a dev server on loopback,
# registers N applications through the admin API over HTTPS with
# bench/dirload (one request at a time, the write rate reported per block),
# then measures token issuance at that size with bench/tokenload. Loopback
# only; bounded by N.
#
#   bench/dir-bench.sh [N] [BLOCK]          (defaults 10000 1000)
# PORTCULLIS_BIN=path runs that binary instead of building this tree.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
N=${1:-10000}; BLOCK=${2:-1000}; PORT=${PORT:-18700}
WORK=$(mktemp -d); SRV=; trap '[ -n "$SRV" ] && kill "$SRV" 2>/dev/null; rm -rf "$WORK"' EXIT
if [ -n "${PORTCULLIS_BIN:-}" ]; then cp "$PORTCULLIS_BIN" "$WORK/portcullis"; else go build -o "$WORK/portcullis" ./cmd/portcullis; fi
go build -o "$WORK/dirload" ./bench/dirload
go build -o "$WORK/tokenload" ./bench/tokenload
"$WORK/portcullis" serve --dev --data "$WORK/data" --listen 127.0.0.1:$PORT >/dev/null 2>"$WORK/serve.log" &
SRV=$!
for _ in $(seq 1 50); do [ -f "$WORK/data/admin.json" ] && break; sleep 0.2; done
[ -f "$WORK/data/admin.json" ] || { echo "the dev server did not start within 10s:" >&2; cat "$WORK/serve.log" >&2; exit 1; }
json() { python3 -c "import json,sys;print(json.load(sys.stdin)[\"$1\"])"; }
A="$WORK/data/admin.json"
echo "== tokens/s with an empty directory (admin credential, client_secret_post, 16 connections, 5 s)"
TOKENLOAD_SECRET=$(json clientSecret < "$A") "$WORK/tokenload" -url "https://127.0.0.1:$PORT/$(json tenantId < "$A")/oauth2/v2.0/token" \
  -ca "$WORK/data/tls/ca.pem" -client-id "$(json clientId < "$A")" -scope "$(json scope < "$A")" -c 16 -d 5s
echo "== registering $N applications"
"$WORK/dirload" -admin "$A" -n "$N" -every "$BLOCK"
echo "== tokens/s with $N more applications"
TOKENLOAD_SECRET=$(json clientSecret < "$A") "$WORK/tokenload" -url "https://127.0.0.1:$PORT/$(json tenantId < "$A")/oauth2/v2.0/token" \
  -ca "$WORK/data/tls/ca.pem" -client-id "$(json clientId < "$A")" -scope "$(json scope < "$A")" -c 16 -d 5s
