#!/usr/bin/env bash
# Side-by-side load run: a fresh Lanyard and the npm package oidc-provider (in memory), every
# scenario back to back on the same machine, with the server CPU of each measured window (from
# /proc/PID/stat of the server process). Lanyard runs with governance on: a tenant policy with a
# concurrent-session limit (evict_oldest) and session binding to IP and browser family. Both sign
# the bench client's ID tokens with ES256 (oidc-provider with BENCH_ES256=1).
# Needs node/npm and a release build:
#   cargo build --release -p lanyard -p lanyard-conformance
#   bash conformance/bench-compare.sh [SECONDS] [CONCURRENCY] [DATABASE]
# DATABASE: sqlite (default), postgres (LANYARD_BENCH_POSTGRES_URL, default
# postgres://postgres@127.0.0.1:5432/test; a fresh lanyard_bench_load database is made and
# dropped), or both.
set -euo pipefail
cd "$(dirname "$0")/.."
T="${CARGO_TARGET_DIR:-target}/release"
SECS="${1:-8}"; CONC="${2:-16}"; DB="${3:-sqlite}"
PG="${LANYARD_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
SCENARIOS="${LANYARD_BENCH_SCENARIOS:-refresh client-credentials introspect introspect-user userinfo sso login}"
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

(cd conformance/oidc-provider && { [ -d node_modules ] || npm install --silent; })
(cd conformance/oidc-provider && PORT=3100 BENCH_ES256=1 exec node server.mjs > "$WORK/op.log" 2>&1) &
OP_PID=$!

run_one() { # label database-url
  local label="$1" url="$2"
  export LANYARD_DATABASE_URL="$url"
  (LANYARD_BIND=127.0.0.1:18081 LANYARD_PUBLIC_URL=http://127.0.0.1:18081 LANYARD_LOG=warn \
    exec "$T/lanyard" serve > "$WORK/lanyard-$label.log" 2>&1) &
  local pid=$!
  for _ in $(seq 1 60); do curl -fs http://127.0.0.1:18081/t/demo/.well-known/openid-configuration >/dev/null && break; sleep 0.5; done
  "$T/lanyard" client create --tenant demo bench --secret bench-secret-0123456789 \
    --redirect-uri http://127.0.0.1:8765/callback --grant-type authorization_code \
    --grant-type refresh_token --grant-type client_credentials --first-party \
    --id-token-signed-response-alg ES256 > /dev/null
  "$T/lanyard" user create --tenant demo alice --password 'load-test-password-1' > /dev/null
  # Governance on: every login counts the user's sessions (and evicts beyond 100), every
  # request with the session checks its binding.
  "$T/lanyard" policy set --tenant demo max_sessions=100 limit_action=evict_oldest \
    bind_ip=exact bind_user_agent=family > /dev/null
  for s in $SCENARIOS; do
    "$T/lanyard-load" --issuer http://127.0.0.1:18081/t/demo --client-id bench \
      --client-secret bench-secret-0123456789 --username alice --password 'load-test-password-1' \
      --scenario "$s" --concurrency "$CONC" --duration "$SECS" --label "lanyard-$label" \
      --server-pid "$pid" | grep -E "^$s |server cpu|error x|setup"
    "$T/lanyard-load" --issuer http://127.0.0.1:3100 --client-id bench --client-secret bench-secret \
      --username alice --password pw --scenario "$s" --concurrency "$CONC" --duration "$SECS" \
      --label oidc-provider --server-pid "$OP_PID" | grep -E "^$s |server cpu|error x|setup"
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

sleep 3
if [ "$DB" = sqlite ] || [ "$DB" = both ]; then
  echo "== Lanyard on SQLite (durable) vs oidc-provider (in memory)"
  run_one sqlite "sqlite://$WORK/load.db?mode=rwc"
fi
if [ "$DB" = postgres ] || [ "$DB" = both ]; then
  echo "== Lanyard on PostgreSQL vs oidc-provider (in memory)"
  psql "$PG" -qc 'drop database if exists lanyard_bench_load' -qc 'create database lanyard_bench_load' >/dev/null
  run_one postgres "${PG%/*}/lanyard_bench_load"
  psql "$PG" -qc 'drop database if exists lanyard_bench_load' >/dev/null
fi
