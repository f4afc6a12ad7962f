#!/usr/bin/env bash
# The OpenAPI document is the contract: schemathesis (an OpenAPI fuzzer, pinned below) generates
# requests from `GET /openapi.json` and checks every answer against it, on the real binary, on
# SQLite and on PostgreSQL, and on MySQL or MariaDB when asked (a build with the `mysql` feature).
# Fails on any failure. Bounded: FUZZ_SECONDS per backend (default 75).
#
#   bash scripts/fuzz_api.sh            # SQLite and PostgreSQL (at 127.0.0.1:5432, user postgres)
#   FUZZ_BACKENDS=sqlite bash scripts/fuzz_api.sh
#   FUZZ_BACKENDS="sqlite postgres mysql" bash scripts/fuzz_api.sh   # MySQL at FUZZ_MYSQL
#
# Every check runs (`--checks all`) in every phase (examples, coverage, fuzzing, stateful), except:
#   - POST /auth/logout is left out of the run: it would end the one session the run signs in
#     with, and every later request would test nothing but the 401. tests/api.rs covers it.
#   - One worker: schemathesis 4.32.5's hypothesis fails with "AST constructor recursion depth
#     mismatch" when two workers describe strategies at once (a Python 3.11 race, not the API).
# Two accounts sign in (alice and bob), so object_level_authorization checks that neither reads
# what the other created.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
seconds=${FUZZ_SECONDS:-75}
backends=${FUZZ_BACKENDS:-sqlite postgres}
pg_server=${FUZZ_POSTGRES:-postgres://postgres@127.0.0.1:5432}
mysql_server=${FUZZ_MYSQL:-mysql://root@127.0.0.1:3306}

venv=${FUZZ_VENV:-$PWD/target/fuzz-venv}
if ! "$venv/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  echo "== installing schemathesis $SCHEMATHESIS_VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "${pg_db:-}" ]; then psql "$pg_server/postgres" -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true; fi
  if [ -n "${mysql_db:-}" ]; then mysql_sql "DROP DATABASE IF EXISTS $mysql_db" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== building workhub"
cargo build --quiet -p workhub
binary=$work/workhub
cp target/debug/workhub "$binary"
case " $backends " in
  *" mysql "*)
    echo "== building workhub with MySQL (the mysql feature)"
    cargo build --quiet -p workhub --features mysql
    cp target/debug/workhub "$work/workhub-mysql"
    ;;
esac

# Runs SQL on the MySQL server of FUZZ_MYSQL with the mysql command line client.
mysql_sql() {
  local args
  args=$(python3 -c 'import sys, urllib.parse as u
url = u.urlsplit(sys.argv[1])
print(" ".join(["-h", url.hostname or "127.0.0.1", "-P", str(url.port or 3306), "-u", url.username or "root"]
               + (["-p" + u.unquote(url.password)] if url.password else [])))' "$mysql_server")
  # shellcheck disable=SC2086
  mysql $args -e "$1"
}

# Starts the service on $1 (a database URL), with binary $2 (default: the one built without
# features), and sets $base to its address.
start() {
  : >"$work/out"
  DATABASE_URL="$1" WORKHUB_ENV=development WORKHUB_ADDR=127.0.0.1:0 RUST_LOG=warn \
    "${2:-$binary}" serve >"$work/out" 2>"$work/log" &
  server_pid=$!
  for _ in $(seq 1 300); do
    base=$(sed -n 's/^workhub listening on \(http:[^ ]*\).*/\1/p' "$work/out")
    [ -n "$base" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/out" "$work/log"; echo "workhub exited"; exit 1; }
    sleep 0.1
  done
  echo "workhub did not start listening"; exit 1
}

stop() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

# Two signed-in accounts for the run, each with a project of its own so paths have something to
# reach, written as a Web Fuzzing Commons auth file: schemathesis sends requests as either and,
# for object_level_authorization, replays one's reads as the other.
sign_in() {
  local auth="" name token
  for name in alice bob; do
    curl -fsS -X POST "$base/auth/register" -H 'Content-Type: application/json' \
      -d "{\"email\": \"$name@example.com\", \"password\": \"fuzz-password\", \"display_name\": \"$name\"}" >/dev/null
    token=$(curl -fsS -X POST "$base/auth/login" -H 'Content-Type: application/json' \
      -d "{\"email\": \"$name@example.com\", \"password\": \"fuzz-password\"}" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
    curl -fsS -X POST "$base/projects" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      -d "{\"name\": \"$name's project\"}" >/dev/null
    auth="$auth${auth:+,}{\"name\": \"$name\", \"fixedHeaders\": [{\"name\": \"Authorization\", \"value\": \"Bearer $token\"}]}"
  done
  echo "{\"auth\": [$auth]}" >"$work/auth.json"
  printf '[auth.wfc]\npath = "%s"\npeers = ["alice", "bob"]\n' "$work/auth.json" >"$work/schemathesis.toml"
}

fuzz() {
  local name=$1
  echo "== schemathesis on $name ($seconds s)"
  sign_in
  local status=0
  local reports=$PWD/target/fuzz/$name
  # Run from the scratch directory: schemathesis and hypothesis keep caches in the working directory.
  (cd "$work" && "$venv/bin/st" run "$base/openapi.json" \
    --checks all \
    --exclude-path /auth/logout \
    --max-time "$seconds" --workers 1 --seed "${FUZZ_SEED:-1}" \
    --request-timeout 20 --suppress-health-check too_slow \
    --report junit --report-dir "$reports") || status=$?
  if grep -q ' ERROR \| panicked' "$work/log"; then
    echo "the service logged errors during the run:"; grep ' ERROR \| panicked' "$work/log" | head -20
    status=1
  fi
  return $status
}

failed=0
for backend in $backends; do
  case $backend in
    sqlite)
      start "$work/fuzz.db"
      fuzz sqlite || failed=1
      stop
      ;;
    postgres)
      pg_db="workhub_fuzz_$$"
      if ! psql "$pg_server/postgres" -qc "CREATE DATABASE $pg_db" >/dev/null; then
        echo "no PostgreSQL server answers at $pg_server"
        [ "${CI:-}" = true ] && exit 1
        echo "SKIPPED: the PostgreSQL run (set FUZZ_POSTGRES)"; continue
      fi
      start "$pg_server/$pg_db"
      fuzz postgres || failed=1
      stop
      ;;
    mysql)
      mysql_db="workhub_fuzz_$$"
      if ! command -v mysql >/dev/null 2>&1 || ! mysql_sql "CREATE DATABASE $mysql_db"; then
        echo "no MySQL server answers at $mysql_server (or no mysql client)"
        [ "${CI:-}" = true ] && exit 1
        echo "SKIPPED: the MySQL run (set FUZZ_MYSQL)"; continue
      fi
      start "$mysql_server/$mysql_db" "$work/workhub-mysql"
      fuzz mysql || failed=1
      stop
      ;;
    *) echo "unknown backend $backend (sqlite, postgres, mysql)"; exit 2 ;;
  esac
done
[ $failed -eq 0 ] && echo "fuzz passed" || { echo "fuzz FAILED"; exit 1; }
