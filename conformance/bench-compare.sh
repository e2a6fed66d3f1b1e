#!/usr/bin/env bash
# Side-by-side load run: a fresh Lanyard (SQLite) and the npm package oidc-provider (in memory),
# each scenario back to back on the same machine. Needs node/npm and a release build:
#   cargo build --release -p lanyard -p lanyard-conformance
#   bash conformance/bench-compare.sh [SECONDS] [CONCURRENCY]
set -euo pipefail
cd "$(dirname "$0")/.."
T="${CARGO_TARGET_DIR:-target}/release"
SECS="${1:-8}"; CONC="${2:-16,64}"
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

export LANYARD_DATABASE_URL="sqlite://$WORK/load.db?mode=rwc"
LANYARD_BIND=127.0.0.1:18081 LANYARD_PUBLIC_URL=http://127.0.0.1:18081 LANYARD_LOG=warn \
  "$T/lanyard" serve > "$WORK/lanyard.log" 2>&1 &
(cd conformance/oidc-provider && { [ -d node_modules ] || npm install --silent; } && PORT=3100 node server.mjs > "$WORK/op.log" 2>&1) &
sleep 4
"$T/lanyard" client create --tenant demo bench --secret bench-secret-0123456789 \
  --redirect-uri http://127.0.0.1:8765/callback --grant-type authorization_code \
  --grant-type refresh_token --grant-type client_credentials --first-party > /dev/null
"$T/lanyard" user create --tenant demo alice --password 'load-test-password-1' > /dev/null

for s in refresh client-credentials introspect userinfo login; do
  "$T/lanyard-load" --issuer http://127.0.0.1:18081/t/demo --client-id bench \
    --client-secret bench-secret-0123456789 --username alice --password 'load-test-password-1' \
    --scenario "$s" --concurrency "$CONC" --duration "$SECS" --label lanyard | grep -E "^(scenario|$s )"
  "$T/lanyard-load" --issuer http://127.0.0.1:3100 --client-id bench --client-secret bench-secret \
    --username alice --password pw --scenario "$s" --concurrency "$CONC" --duration "$SECS" \
    --label oidc-provider | grep -E "^$s "
done
