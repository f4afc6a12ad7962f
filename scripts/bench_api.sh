#!/usr/bin/env bash
# scripts/bench_api.sh: workhub's API benchmark (issue 5). `bash scripts/bench_api.sh`.
#
# WHAT IT MEASURES
#   Authenticated task listing, the service's hottest read: `GET /projects/{id}/tasks?limit=50` with a
#   bearer token (session lookup by token hash, membership check, one page of 50 tasks as JSON), by
#   8 concurrent clients (wrk, 8 connections on 2 threads) for a bounded duration, against a release
#   `workhub serve` on 127.0.0.1 with a fresh SQLite database (WAL) holding 200 tasks. It reports
#   requests per second and latency, and fails if any response was not 2xx.
#
# KNOBS (environment)
#   WORKHUB_BENCH_API_SECONDS      duration of the measurement (default 10)
#   WORKHUB_BENCH_API_CONNECTIONS  concurrent clients (default 8)
#   WORKHUB_BENCH_API_TASKS        tasks in the project (default 200)
#
# wrk comes from Debian (`apt-get install -y wrk`); the script installs it when it is missing.
# The report is printed and written to target/bench/api.md.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_=${WORKHUB_BENCH_API_SECONDS:-10}
CONNECTIONS=${WORKHUB_BENCH_API_CONNECTIONS:-8}
TASKS=${WORKHUB_BENCH_API_TASKS:-200}
REPORT="$ROOT/target/bench/api.md"

# Variables that would change what is measured.
unset DATABASE_URL WORKHUB_MIGRATIONS_DIR WORKHUB_ENV WORKHUB_SESSION_TTL_HOURS \
    WORKHUB_BODY_LIMIT_BYTES WORKHUB_DB_POOL_SIZE

if ! command -v wrk >/dev/null 2>&1; then
    echo "wrk is missing; installing it from Debian's packages"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get install -y wrk >/dev/null 2>&1 || {
        $SUDO apt-get update >/dev/null
        $SUDO apt-get install -y wrk >/dev/null
    }
fi
command -v curl >/dev/null || { echo "error: curl is needed" >&2; exit 1; }

echo "building workhub (release) ..."
(cd "$ROOT" && cargo build --release -q -p workhub)
BIN="$ROOT/target/release/workhub"

WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

(cd "$WORK" && DATABASE_URL="$WORK/bench.db" WORKHUB_ADDR=127.0.0.1:0 RUST_LOG=warn \
    exec "$BIN" serve >"$WORK/stdout" 2>"$WORK/stderr") &
SERVER_PID=$!
ADDR=""
for _ in $(seq 1 100); do
    ADDR=$(sed -n 's|^workhub listening on http://\([^ ]*\).*|\1|p' "$WORK/stdout" | head -n1)
    [ -n "$ADDR" ] && break
    sleep 0.1
done
if [ -z "$ADDR" ]; then
    echo "error: workhub did not start:" >&2
    cat "$WORK/stdout" "$WORK/stderr" >&2
    exit 1
fi
BASE="http://$ADDR"

json_post() { # path token body
    curl -sf -X POST "$BASE$1" -H "Authorization: Bearer $2" -H 'Content-Type: application/json' -d "$3"
}
field() { # name: the value of a top-level string or number field of the JSON on stdin
    sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p"
}

curl -sf -X POST "$BASE/auth/register" -H 'Content-Type: application/json' \
    -d '{"email":"bench@example.com","password":"bench-password","display_name":"Bench"}' >/dev/null
TOKEN=$(curl -sf -X POST "$BASE/auth/login" -H 'Content-Type: application/json' \
    -d '{"email":"bench@example.com","password":"bench-password"}' | field token)
PROJECT=$(json_post /projects "$TOKEN" '{"name":"Benchmark"}' | field id)
STATUSES=(todo doing done)
for i in $(seq 1 "$TASKS"); do
    json_post "/projects/$PROJECT/tasks" "$TOKEN" \
        "{\"title\":\"Task $i\",\"description\":\"Benchmark task number $i\",\"status\":\"${STATUSES[i % 3]}\",\"due_on\":\"2030-01-$(printf %02d $((i % 28 + 1)))\"}" \
        >/dev/null
done
URL="$BASE/projects/$PROJECT/tasks?limit=50"
curl -sf "$URL" -H "Authorization: Bearer $TOKEN" | grep -q '"next_cursor":"' ||
    { echo "error: the listing did not answer a full page" >&2; exit 1; }

echo "measuring GET /projects/$PROJECT/tasks?limit=50: $CONNECTIONS connections, ${SECONDS_}s ..."
OUT=$(wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_}s" --latency -H "Authorization: Bearer $TOKEN" "$URL")
echo "$OUT"
if echo "$OUT" | grep -q "Non-2xx"; then
    echo "error: some responses were not 2xx" >&2
    exit 1
fi
RPS=$(echo "$OUT" | awk '/^Requests\/sec:/ {printf "%.0f", $2}')
P50=$(echo "$OUT" | awk '$1 == "50%" {print $2}')
P99=$(echo "$OUT" | awk '$1 == "99%" {print $2}')

mkdir -p "$(dirname "$REPORT")"
{
    echo "# workhub API benchmark"
    echo
    echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(uname -sm), release build, SQLite (WAL)"
    echo
    echo "| case | clients | duration | req/s | p50 | p99 |"
    echo "| --- | --- | --- | --- | --- | --- |"
    echo "| authenticated task listing, 50 of $TASKS tasks per page | $CONNECTIONS | ${SECONDS_} s | $RPS | $P50 | $P99 |"
} >"$REPORT"
echo
cat "$REPORT"
