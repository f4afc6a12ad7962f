#!/usr/bin/env bash
# A throwaway PostgreSQL cluster that accepts TLS connections only, for the TLS tests
# (crates/app/tests/tls.rs). `.ci/run` runs it; so can a developer:
#
#   eval "$(bash scripts/tls-postgres.sh start)"   # starts it, prints the variables the tests read
#   cargo test -p workhub --test tls
#   bash scripts/tls-postgres.sh stop              # stops it and deletes it
#
# The cluster listens on 127.0.0.1 only, on port WORKHUB_TLS_PG_PORT, else the first free one from
# 5433 (so that runs side by side each get their own), and lives in WORKHUB_TLS_PG_DIR (default
# ${TMPDIR:-/tmp}/workhub-tls-postgres). Its certificate is signed by a
# certificate authority made for it (ca.crt there, valid for localhost and 127.0.0.1). pg_hba.conf
# trusts TLS connections and rejects every other TCP connection, so a test that connects at all
# connected over TLS. `start` on a running cluster only prints the variables again; a stopped one
# left behind is made anew.
# Needs PostgreSQL's server programs (initdb, pg_ctl: PG_BIN, else the newest
# /usr/lib/postgresql/*/bin, else `pg_config --bindir`, else the PATH) and the openssl command.
# Run as root, the server runs as the `postgres` user (initdb refuses root).
set -euo pipefail

dir=${WORKHUB_TLS_PG_DIR:-${TMPDIR:-/tmp}/workhub-tls-postgres}
data="$dir/data"

say() { echo "tls-postgres: $*" >&2; }
die() {
  say "$*"
  exit 1
}

bindir() {
  if [ -n "${PG_BIN:-}" ]; then
    echo "$PG_BIN"
    return
  fi
  local newest
  newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$newest" ] && [ -x "$newest/initdb" ]; then
    echo "$newest"
  elif command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir
  elif command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
  else
    die "no PostgreSQL server programs (initdb, pg_ctl) found: install PostgreSQL's server package or set PG_BIN"
  fi
}

bin=$(bindir)
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || die "running as root, but there is no postgres user to run the server as"
  owner=postgres
  as_owner() { runuser -u postgres -- "$@"; }
else
  owner=$(id -un)
  as_owner() { "$@"; }
fi

running() { [ -f "$data/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; }

print_env() {
  local port
  port=$(cat "$dir/port")
  echo "export WORKHUB_TEST_TLS_URL=postgres://postgres@127.0.0.1:$port/postgres"
  echo "export WORKHUB_TEST_TLS_ROOTCERT=$dir/ca.crt"
}

certificates() {
  command -v openssl >/dev/null 2>&1 || die "the openssl command is needed to make the cluster's certificate"
  local quiet="$dir/openssl.log"
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=workhub test CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" >"$quiet" 2>&1 || die "cannot make the CA: $(cat "$quiet")"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$dir/server.key" -out "$dir/server.csr" >"$quiet" 2>&1 || die "cannot make the key: $(cat "$quiet")"
  printf 'subjectAltName = DNS:localhost, IP:127.0.0.1\nbasicConstraints = CA:FALSE\n' >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 365 -extfile "$dir/server.ext" -out "$dir/server.crt" >"$quiet" 2>&1 ||
    die "cannot sign the certificate: $(cat "$quiet")"
  chmod 600 "$dir/server.key"
  chown "$owner" "$dir/server.key" "$dir/server.crt"
}

start() {
  if running; then
    say "already running on 127.0.0.1:$(cat "$dir/port") ($dir)"
    print_env
    return
  fi
  # A cluster left behind stopped (a machine restarted) is made anew, certificates included.
  rm -rf "$dir"
  mkdir -p "$dir"
  chmod 755 "$dir"
  certificates
  chown "$owner" "$dir"
  as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
    die "initdb failed: $(cat "$dir/initdb.log")"
  cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
ssl = on
ssl_cert_file = '$dir/server.crt'
ssl_key_file = '$dir/server.key'
fsync = off
EOF
  cat >"$data/pg_hba.conf" <<EOF
local     all all              trust
hostssl   all all 127.0.0.1/32 trust
hostnossl all all 127.0.0.1/32 reject
EOF
  local candidates port
  if [ -n "${WORKHUB_TLS_PG_PORT:-}" ]; then
    candidates=$WORKHUB_TLS_PG_PORT
  else
    candidates=$(seq 5433 5452)
  fi
  for port in $candidates; do
    # Something answers there already (another run's cluster): the next port.
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      continue
    fi
    rm -f "$dir/server.log"
    if as_owner "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -o "-p $port" -w -t 60 start >/dev/null; then
      echo "$port" >"$dir/port"
      say "running on 127.0.0.1:$port, TLS only ($dir)"
      print_env
      return
    fi
    # Taken between the look and the start: the next port; any other failure is the answer.
    grep -q "Address already in use" "$dir/server.log" 2>/dev/null ||
      die "the server did not start on 127.0.0.1:$port: $(tail -n 20 "$dir/server.log" 2>/dev/null)"
  done
  die "no free port for the server among: $(echo $candidates) (choose one with WORKHUB_TLS_PG_PORT)"
}

stop() {
  if running; then
    as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    say "stopped"
  fi
  rm -rf "$dir"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
env) print_env ;;
*)
  echo "usage: $0 start|stop|env" >&2
  exit 2
  ;;
esac
