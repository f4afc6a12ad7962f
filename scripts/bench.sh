#!/usr/bin/env bash
# scripts/bench.sh: workhub's migration benchmark (issue 6). Run it with `just bench`, or
# `bash scripts/bench.sh` without just; `bash scripts/bench.sh case_sqlite_noop` runs only the named cases.
#
# WHAT IT MEASURES, and why
#   Users pick a migration tool partly on speed: the no-op check runs at every start of every replica,
#   and a long history is replayed in every test database and every fresh environment. So, on a
#   generated workload of 1,000 migrations in diesel's folder format (each a CREATE TABLE, a CREATE
#   INDEX and an INSERT), with a release `workhub` binary that EMBEDS those 1,000 migrations:
#
#   (a) `workhub --migrate-only` applying all 1,000 to a new SQLite database, against the sqlite3 shell
#       running the same SQL with the same transaction boundaries (one BEGIN IMMEDIATE/COMMIT per
#       migration) and the same history rows (the two history tables, and per migration the INSERT
#       into __diesel_schema_migrations, the upsert into __workhub_migrations that
#       crates/migrations/src/history/tables.rs `replace_companion` writes), in alternating rounds
#       with each one's CPU time beside. Target: <= 1.0x (issue 16).
#   (b) the same with `--transaction all`, against one sqlite3 transaction around everything. <= 1.1x.
#   (c) `workhub --migrate-only` with all 1,000 already applied (nothing to do). Target: median
#       <= 5 ms; the baseline is the cost of starting a process that opens the database
#       (`sqlite3 db 'SELECT 1'`). --migrate-only reads the history once, without the lock;
#       informative rows compare with sqlite3 reading the history table (which makes SQLite load the
#       schema of 1,000 tables and indexes) and with `workhub db upgrade`, which does the same.
#   (e) PostgreSQL: the same 1,000 migrations applied to a new database vs psql running the same SQL
#       with the same transactions and history rows. Target: <= 1.05x. Skipped with a note when no
#       server answers at WORKHUB_BENCH_POSTGRES (default postgres://postgres@127.0.0.1:5432).
#   (k) MySQL/MariaDB: the same 1,000 migrations with SQL for MySQL, in a release binary built with
#       `--features mysql`, vs the mariadb client running the same statements and history rows.
#       Target: <= 1.05x. Skipped with a note without a client, a server at WORKHUB_BENCH_MYSQL
#       (default mysql://root@127.0.0.1:3306) or the client library to build with.
#   (f) autogenerate on 500 and 2,000 tables x 20 columns with one column changed (the example
#       crates/migrations/examples/autogenerate_bench.rs, the library work `db create` does), each
#       with the migration replayed (a history not seen before) and with the schema a replay of it
#       kept (a second run on an unchanged history). Target: <= 0.3 s; the 2,000/500 ratio is the
#       growth check (linear in tables would be 4x).
#   (g) a diesel project's history: the 30-migration PostgreSQL fixture of issue 12
#       (crates/app/tests/fixtures/diesel_postgres/migrations) read with --migrations-dir, against
#       diesel_cli on the same directory: a full upgrade into a new database, and the no-op with every
#       migration applied. Target: <= 1.05x for both. Skipped with a note without a server or without
#       a diesel_cli built with PostgreSQL support. The two tools run in alternating rounds (see
#       measure_pair), since these runs are bound by the server's commits and the machine is shared.
#   (h) `GET /health` of `workhub serve` (wrk, 8 connections, 5 s) on a database with all $COUNT
#       migrations applied, against the same binary on a fresh database whose history is one migration
#       (read from a directory with --migrations-dir). Target: >= 0.9x the fresh database's rate.
#   (i) growth: the same kind of history at N = 1,000 and N = 10,000 (WORKHUB_BENCH_GROWTH), read
#       with --migrations-dir: applying it to a new database against the sqlite3 shell running the
#       same statements and history rows (target <= 1.0x at both sizes), `db check` on the database
#       at head (target <= 1 s at 10,000, with its peak memory; its first run on a history replays it
#       and is reported apart), and the no-op; then each one's 10,000/1,000 ratio beside the sqlite3
#       shell's (linear in the history is 10x).
#   (j) the write stall on PostgreSQL: crates/migrations/tests/write_stall.rs (1,000,000 rows, writes
#       from another connection) for each generated change against the same change written the naive
#       way; its table is appended to the report.
#   (d) side by side, without targets: diesel_cli (`diesel migration run`) and Alembic (one revision
#       file per migration, running the same SQL through op.execute) on the same workloads, when they
#       are on the machine or can be installed from the package registries into target/bench-tools/
#       (a cache reused by later runs). Their code is never vendored; a tool that cannot be had is
#       reported and skipped.
#
#   The sqlite3 shell is the floor: it is the same SQLite library doing the same work with nothing
#   else around it, so the ratio is what workhub's own machinery (process start, embedded migration
#   set, lock file, history read, statement splitting, progress output) costs on top of the database.
#
# HOW
#   Workloads are generated in a temporary directory (deleted on exit). The binary is built with
#   WORKHUB_EMBED_MIGRATIONS_DIR pointing there and its own CARGO_TARGET_DIR (target/bench), so the
#   usual target/ is left alone. hyperfine measures every command (no shell in between, `--prepare`
#   deleting the database before each run); each case compares medians measured in the same run.
#   The Markdown report (with date and machine) is printed at the end and written to
#   target/bench/report.md.
#
# KNOBS (environment)
#   WORKHUB_BENCH_MIGRATIONS   number of migrations (default 1000)
#   WORKHUB_BENCH_RUNS         runs of each apply case (default 10; 1 warmup run)
#   WORKHUB_BENCH_NOOP_RUNS    runs of each no-op case (default 50; 3 warmup runs)
#   WORKHUB_BENCH_ANCHOR_RUNS  runs of diesel_cli / Alembic apply cases (default 5; 1 warmup run)
#   WORKHUB_BENCH_MYSQL_ROUNDS alternating rounds of the MySQL case, one run of each tool a round (default 3)
#   WORKHUB_BENCH_GROWTH       the history sizes of the growth case (default "1000 10000")
#   WORKHUB_BENCH_INSTALL      0 = never install diesel_cli or Alembic, use them only when present
#   WORKHUB_BENCH_INSTALL_TIMEOUT  seconds allowed for `cargo install diesel_cli` (default 900)
#   WORKHUB_BENCH_REV          build a committed revision (e.g. HEAD, from `git archive`) instead of the
#                              working tree, to measure a commit while the tree has edits in progress
#
# ADDING A CASE
#   A case is one function `case_*` listed in CASES below; it measures with `measure`, and adds rows
#   to the report with `add_row`.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_TARGET="$ROOT/target/bench"
TOOLS="$ROOT/target/bench-tools"
REPORT="$BENCH_TARGET/report.md"

COUNT=${WORKHUB_BENCH_MIGRATIONS:-1000}
RUNS=${WORKHUB_BENCH_RUNS:-10}
NOOP_RUNS=${WORKHUB_BENCH_NOOP_RUNS:-50}
ANCHOR_RUNS=${WORKHUB_BENCH_ANCHOR_RUNS:-5}
MYSQL_ROUNDS=${WORKHUB_BENCH_MYSQL_ROUNDS:-3}
GROWTH=${WORKHUB_BENCH_GROWTH:-"1000 10000"}
INSTALL=${WORKHUB_BENCH_INSTALL:-1}
INSTALL_TIMEOUT=${WORKHUB_BENCH_INSTALL_TIMEOUT:-900}
REV=${WORKHUB_BENCH_REV:-}
SRC="$ROOT"      # what is built: the working tree, or an export of $REV
BUILT="working tree"

CASES=(
    case_sqlite_each
    case_sqlite_all
    case_sqlite_noop
    case_postgres_psql
    case_mysql
    case_diesel_fixture
    case_autogenerate
    case_health
    case_growth
    case_write_stall
)

# The variables workhub reads would change what is measured (another database, migrations read from
# a directory instead of the embedded ones, a production refusal, log output).
unset DATABASE_URL WORKHUB_MIGRATIONS_DIR WORKHUB_ENV WORKHUB_LOCK_TIMEOUT RUST_LOG

WORK=$(mktemp -d "${TMPDIR:-/tmp}/workhub-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

ROWS=()   # report rows: "case|workhub|baseline|ratio|target|met"
NOTES=()  # lines printed under the table
WORKHUB=""
LOAD=""
DIESEL=""
ALEMBIC=""
STALL_TABLE=""

say() { printf '\n==> %s\n' "$*"; }
note() { printf '    note: %s\n' "$*"; NOTES+=("$*"); }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------------------

need_tools() {
    command -v cargo >/dev/null || die "cargo is needed to build workhub"
    command -v sqlite3 >/dev/null || die "the sqlite3 shell is the baseline: apt-get install -y sqlite3"
    command -v sha256sum >/dev/null || die "sha256sum (coreutils) is needed for the history checksums"
    if ! command -v hyperfine >/dev/null; then
        say "installing hyperfine"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get install -y hyperfine || { $sudo apt-get update && $sudo apt-get install -y hyperfine; } ||
            die "hyperfine is needed: apt-get install -y hyperfine (or cargo install hyperfine)"
    fi
}

# diesel_cli: on PATH, else cached in target/bench-tools/diesel, else installed there (bounded time).
find_diesel() {
    if command -v diesel >/dev/null; then
        DIESEL=$(command -v diesel)
    elif [ -x "$TOOLS/diesel/bin/diesel" ]; then
        DIESEL="$TOOLS/diesel/bin/diesel"
    elif [ "$INSTALL" = 1 ]; then
        say "installing diesel_cli into $TOOLS/diesel (cached for later runs; at most ${INSTALL_TIMEOUT}s)"
        mkdir -p "$TOOLS"
        if timeout "$INSTALL_TIMEOUT" cargo install diesel_cli --locked --no-default-features \
            --features "postgres-bundled sqlite-bundled" --root "$TOOLS/diesel" --target-dir "$TOOLS/diesel-build" \
            >"$TOOLS/diesel-install.log" 2>&1; then
            DIESEL="$TOOLS/diesel/bin/diesel"
        else
            note "diesel_cli could not be installed (see $TOOLS/diesel-install.log); its columns are skipped"
        fi
    else
        note "diesel_cli is not on PATH and WORKHUB_BENCH_INSTALL=0; its columns are skipped"
    fi
    [ -z "$DIESEL" ] || echo "    diesel_cli: $DIESEL ($("$DIESEL" --version 2>/dev/null | awk '/Version/ { print $2 }'))"
}

# Alembic: on PATH, else a virtualenv cached in target/bench-tools/alembic-venv, else created there.
find_alembic() {
    if command -v alembic >/dev/null; then
        ALEMBIC=$(command -v alembic)
    elif [ -x "$TOOLS/alembic-venv/bin/alembic" ]; then
        ALEMBIC="$TOOLS/alembic-venv/bin/alembic"
    elif [ "$INSTALL" = 1 ] && command -v python3 >/dev/null; then
        say "installing Alembic into $TOOLS/alembic-venv (cached for later runs)"
        mkdir -p "$TOOLS"
        if python3 -m venv "$TOOLS/alembic-venv" >"$TOOLS/alembic-install.log" 2>&1 &&
            "$TOOLS/alembic-venv/bin/pip" install --quiet alembic >>"$TOOLS/alembic-install.log" 2>&1; then
            ALEMBIC="$TOOLS/alembic-venv/bin/alembic"
        else
            rm -rf "$TOOLS/alembic-venv"
            note "Alembic could not be installed (see $TOOLS/alembic-install.log); its columns are skipped"
        fi
    else
        note "Alembic is not on PATH and cannot be installed here (no python3 or WORKHUB_BENCH_INSTALL=0); skipped"
    fi
    [ -z "$ALEMBIC" ] || echo "    alembic: $ALEMBIC ($("$ALEMBIC" --version 2>/dev/null | head -n1))"
}

# ---------------------------------------------------------------------------------------------------
# Workload
# ---------------------------------------------------------------------------------------------------

# The history tables exactly as workhub creates them, read from the engine so the baseline follows it.
history_tables_sql() {
    local sql
    sql=$(awk '/^const CREATE_TABLES/{f=1} f{print} f&&/\)";/{exit}' "$SRC/crates/migrations/src/history/tables.rs" |
        sed -e 's/^const CREATE_TABLES: &str = "//' -e 's/)";$/);/' \
            -e 's/\$versions/__diesel_schema_migrations/' -e 's/\$companion/__workhub_migrations/')
    case "$sql" in
        "CREATE TABLE IF NOT EXISTS __diesel_schema_migrations ("*"__workhub_migrations ("*) printf '%s\n' "$sql" ;;
        *) die "cannot read CREATE_TABLES from crates/migrations/src/history/tables.rs" ;;
    esac
}

# write_history DIR N BASELINE [PREFIX]: N migrations in diesel's format in DIR
# (<version-with-dashes>_create_PREFIX_NNNNN/{up,down}.sql, tables PREFIX_NNNNN; PREFIX defaults to
# bench, the embedded set's), and in BASELINE the sqlite3 script that
# runs the same SQL with the same transactions and history rows as workhub (one BEGIN IMMEDIATE/COMMIT
# per migration).
write_history() {
    local dir=$1 count=$2 baseline=$3 prefix=${4:-bench}
    mkdir -p "$dir"
    local i n folder width=4
    [ "$count" -lt 10000 ] || width=5
    local -a folders=()
    for ((i = 1; i <= count; i++)); do
        printf -v n "%0${width}d" "$i"
        # One second apart from 2024-01-01 00:00:00: distinct, ordered versions.
        printf -v folder '%s-%02d%02d%02d_create_%s_%s' "2024-01-01" $((i / 3600)) $((i / 60 % 60)) $((i % 60)) "$prefix" "$n"
        folders+=("$folder")
        mkdir "$dir/$folder"
        printf 'CREATE TABLE %s_%s (\n    id INTEGER PRIMARY KEY NOT NULL,\n    name TEXT NOT NULL,\n    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP\n);\nCREATE INDEX %s_%s_name ON %s_%s (name);\nINSERT INTO %s_%s (id, name) VALUES (1, %s);\n' \
            "$prefix" "$n" "$prefix" "$n" "$prefix" "$n" "$prefix" "$n" "'migration $n'" >"$dir/$folder/up.sql"
        printf 'DROP TABLE %s_%s;\n' "$prefix" "$n" >"$dir/$folder/down.sql"
    done

    # The history rows workhub records (history/tables.rs `record`, `replace_companion`): version =
    # folder up to the first `_` without dashes; checksum = SHA-256 of up.sql (it has no CR, so
    # normalising changes nothing).
    local tables checksum file version
    tables=$(history_tables_sql)
    {
        printf '%s\n' "$tables"
        # sha256sum prints "<hex>  <path>" in the order given.
        while read -r checksum file; do
            folder=$(basename "$(dirname "$file")")
            version=${folder%%_*}
            version=${version//-/}
            printf 'BEGIN IMMEDIATE;\n'
            cat "$dir/$file"
            printf "INSERT INTO __diesel_schema_migrations (version) VALUES ('%s');\n" "$version"
            printf "INSERT INTO __workhub_migrations (version, folder, checksum, duration_ms, stamped) VALUES ('%s', '%s', '%s', %d, FALSE) ON CONFLICT (version) DO UPDATE SET folder = excluded.folder, checksum = excluded.checksum, applied_at = CURRENT_TIMESTAMP, duration_ms = excluded.duration_ms, stamped = excluded.stamped;\n" \
                "$version" "$folder" "$checksum" 1
            printf 'COMMIT;\n'
        done < <(cd "$dir" && printf '%s/up.sql\n' "${folders[@]}" | xargs sha256sum)
    } >"$baseline"
}

# Writes, for i = 1..COUNT:
#   $WORK/migrations/<version-with-dashes>_create_bench_NNNN/{up,down}.sql   (diesel format, embedded)
#   $WORK/alembic/versions/rNNNN.py                                          (the same SQL for Alembic)
#   $WORK/baseline-each.sql, $WORK/baseline-all.sql                          (the sqlite3 baselines)
generate_workload() {
    say "generating $COUNT migrations in $WORK"
    local versions="$WORK/alembic/versions" i n
    mkdir -p "$versions"
    write_history "$WORK/migrations" "$COUNT" "$WORK/baseline-each.sql"
    local tables
    tables=$(history_tables_sql)
    # One transaction around every migration; the history tables are created before it, as workhub does.
    {
        printf '%s\n' "$tables"
        printf 'BEGIN IMMEDIATE;\n'
        sed -n '/^BEGIN IMMEDIATE;$/,$p' "$WORK/baseline-each.sql" | grep -v -x -e 'BEGIN IMMEDIATE;' -e 'COMMIT;'
        printf 'COMMIT;\n'
    } >"$WORK/baseline-all.sql"

    # Alembic: one revision per migration, chained, running the same three statements.
    local prev="None"
    for ((i = 1; i <= COUNT; i++)); do
        printf -v n '%04d' "$i"
        cat >"$versions/r$n.py" <<EOF
"""create bench_$n"""
from alembic import op

revision = "r$n"
down_revision = $prev
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE TABLE bench_$n (id INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)")
    op.execute("CREATE INDEX bench_${n}_name ON bench_$n (name)")
    op.execute("INSERT INTO bench_$n (id, name) VALUES (1, 'migration $n')")


def downgrade():
    op.execute("DROP TABLE bench_$n")
EOF
        prev="\"r$n\""
    done
    cat >"$WORK/alembic/alembic.ini" <<EOF
[alembic]
script_location = $WORK/alembic
EOF
    # `-x url=sqlite:///...` names the database; `-x transaction=all` runs everything in one transaction
    # (Alembic's own default), else one transaction per migration as workhub's default does.
    cat >"$WORK/alembic/env.py" <<'EOF'
from alembic import context
from sqlalchemy import create_engine

args = context.get_x_argument(as_dictionary=True)
engine = create_engine(args["url"])
with engine.connect() as connection:
    context.configure(
        connection=connection,
        transaction_per_migration=args.get("transaction", "each") == "each",
    )
    with context.begin_transaction():
        context.run_migrations()
EOF
}

# ---------------------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------------------

# What is built: the working tree, or with WORKHUB_BENCH_REV an export of that commit.
prepare_source() {
    if [ -n "$REV" ]; then
        local commit
        commit=$(git -C "$ROOT" rev-parse --verify "$REV^{commit}") || die "WORKHUB_BENCH_REV=$REV is not a commit"
        SRC="$WORK/src"
        mkdir -p "$SRC"
        git -C "$ROOT" archive "$commit" | tar -x -C "$SRC"
        BUILT="commit ${commit:0:7}"
    elif [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no -- crates Cargo.toml Cargo.lock 2>/dev/null)" ]; then
        BUILT="working tree, uncommitted changes on $(git -C "$ROOT" rev-parse --short HEAD)"
    else
        BUILT="commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
    fi
}

build_workhub() {
    say "building a release workhub ($BUILT) embedding the $COUNT migrations (CARGO_TARGET_DIR=$BENCH_TARGET)"
    (cd "$SRC" && WORKHUB_EMBED_MIGRATIONS_DIR="$WORK/migrations" CARGO_TARGET_DIR="$BENCH_TARGET" \
        cargo build --release --quiet -p workhub)
    # A copy, so a concurrent build in target/bench cannot swap the binary under the measurements.
    mkdir -p "$WORK/bin"
    cp "$BENCH_TARGET/release/workhub" "$WORK/bin/workhub"
    WORKHUB="$WORK/bin/workhub"
}

# ---------------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------------

# measure NAME RUNS WARMUP PREPARE COMMAND: runs hyperfine (no shell), prints its summary, and stores
# the median in seconds in MEDIAN. PREPARE is a command run before every run ("" for none).
MEDIAN=""
CPU=""
measure() {
    local name=$1 runs=$2 warmup=$3 prepare=$4 command=$5
    local csv="$WORK/hyperfine-$name.csv"
    local -a args=(--shell=none --runs "$runs" --warmup "$warmup" --export-csv "$csv" --command-name "$name")
    [ -z "$prepare" ] || args+=(--prepare "$prepare")
    hyperfine "${args[@]}" "$command" || return 1
    # command,mean,stddev,median,user,system,min,max
    MEDIAN=$(awk -F, 'NR == 2 { print $4 }' "$csv")
    [ -n "$MEDIAN" ] || die "no median in $csv"
    # Mean user + system CPU time: what the command itself computed, without the waits for the disk.
    CPU=$(awk -F, 'NR == 2 { printf "%.6f", $5 + $6 }' "$csv")
}

# measure_pair NAME_A NAME_B ROUNDS RUNS PREPARE COMMAND_A COMMAND_B: the two commands in alternating
# rounds of RUNS runs each, so that a shared machine's load falls on both alike (a whole series of one
# then a whole series of the other can see two different machines); stores the median of the rounds'
# medians, in seconds, in MEDIAN_A and MEDIAN_B.
MEDIAN_A=""
MEDIAN_B=""
measure_pair() {
    local name_a=$1 name_b=$2 rounds=$3 runs=$4 prepare=$5 command_a=$6 command_b=$7 round
    local -a a=() b=()
    for round in $(seq "$rounds"); do
        measure "$name_a-$round" "$runs" 0 "$prepare" "$command_a" >/dev/null || return 1
        a+=("$MEDIAN")
        measure "$name_b-$round" "$runs" 0 "$prepare" "$command_b" >/dev/null || return 1
        b+=("$MEDIAN")
    done
    median_of() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
    MEDIAN_A=$(median_of "${a[@]}")
    MEDIAN_B=$(median_of "${b[@]}")
    printf '    %s: %s, %s: %s (medians of %s alternating rounds of %s runs)\n' \
        "$name_a" "$(ms "$MEDIAN_A")" "$name_b" "$(ms "$MEDIAN_B")" "$rounds" "$runs"
}

# A fresh database: every file SQLite or workhub may leave beside it.
fresh() { printf 'rm -f %s %s-journal %s-wal %s-shm %s-migrate-lock' "$1" "$1" "$1" "$1" "$1"; }

ms() { awk -v s="$1" 'BEGIN { printf "%.1f ms", s * 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { r = a / b; printf (r < 0.1 ? "%.3fx" : "%.2fx"), r }'; }
# le A B: A <= B
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

# add_row CASE WORKHUB_S BASELINE_S TARGET_RATIO|"" [TARGET_TEXT]: a row comparing two medians; with a
# target ratio, whether it is met.
add_row() {
    local case=$1 wh=$2 base=$3 target=${4:-} met="—" shown="—"
    if [ -n "$target" ]; then
        shown="<= ${target}x"
        if le "$(awk -v a="$wh" -v b="$base" 'BEGIN { printf "%.4f", a / b }')" "$target"; then met=yes; else met=NO; fi
    fi
    ROWS+=("$case|$(ms "$wh")|$(ms "$base")|$(ratio "$wh" "$base")|$shown|$met")
}

# check_applied DB: the run really applied every migration and recorded both history rows.
check_applied() {
    local counts
    counts=$(sqlite3 "$1" "SELECT (SELECT COUNT(*) FROM __diesel_schema_migrations) || ' ' || (SELECT COUNT(*) FROM __workhub_migrations) || ' ' || (SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'bench_%' AND type = 'table')")
    [ "$counts" = "$COUNT $COUNT $COUNT" ] || die "$1: expected $COUNT migrations, both history rows and tables; found $counts"
}

# ---------------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------------

WORKHUB_EACH=""
WORKHUB_ALL=""

# (a) one transaction per migration.
case_sqlite_each() {
    say "(a) apply $COUNT migrations to a new SQLite database, one transaction each"
    local db="$WORK/each.db" cpu_wh cpu_sq
    # Bound by the disk's syncs (one per transaction, the same number for both), which a shared
    # machine makes noisy: alternating rounds, and each one's CPU time beside.
    measure_pair workhub-each sqlite3-each 3 "$(( (RUNS + 2) / 3 ))" "$(fresh "$db")" \
        "$WORKHUB --database-url $db --migrate-only" \
        "sqlite3 -bail $db '.read $WORK/baseline-each.sql'"
    WORKHUB_EACH=$MEDIAN_A
    local base=$MEDIAN_B
    measure workhub-each-cpu 3 0 "$(fresh "$db")" "$WORKHUB --database-url $db --migrate-only" >/dev/null
    cpu_wh=$CPU
    check_applied "$db"
    measure sqlite3-each-cpu 3 0 "$(fresh "$db")" "sqlite3 -bail $db '.read $WORK/baseline-each.sql'" >/dev/null
    cpu_sq=$CPU
    check_applied "$db"
    add_row "apply $COUNT, tx each: vs sqlite3 (CPU time $(ms "$cpu_wh") vs $(ms "$cpu_sq"): $(ratio "$cpu_wh" "$cpu_sq"))" "$WORKHUB_EACH" "$base" 1.0
    anchors_apply each "$WORKHUB_EACH"
}

# (b) the whole run in one transaction.
case_sqlite_all() {
    say "(b) apply $COUNT migrations to a new SQLite database in one transaction (--transaction all)"
    local db="$WORK/all.db"
    measure workhub-all "$RUNS" 1 "$(fresh "$db")" "$WORKHUB --database-url $db --migrate-only --transaction all"
    WORKHUB_ALL=$MEDIAN
    check_applied "$db"
    measure sqlite3-all "$RUNS" 1 "$(fresh "$db")" "sqlite3 -bail $db '.read $WORK/baseline-all.sql'"
    check_applied "$db"
    add_row "apply $COUNT, tx all: vs sqlite3" "$WORKHUB_ALL" "$MEDIAN" 1.1
    anchors_apply all "$WORKHUB_ALL"
}

# (c) nothing to do: the check every replica pays at start.
case_sqlite_noop() {
    say "(c) workhub --migrate-only with all $COUNT already applied (no-op)"
    local db="$WORK/noop.db"
    eval "$(fresh "$db")"
    "$WORKHUB" --database-url "$db" --migrate-only >/dev/null
    check_applied "$db"
    measure workhub-noop "$NOOP_RUNS" 3 "" "$WORKHUB --database-url $db --migrate-only"
    local wh=$MEDIAN
    measure sqlite3-select-1 "$NOOP_RUNS" 3 "" "sqlite3 $db 'SELECT 1'"
    local base=$MEDIAN met=NO
    le "$wh" 0.005 && met=yes
    ROWS+=("no-op, $COUNT applied: vs sqlite3 'SELECT 1' start|$(ms "$wh")|$(ms "$base")|$(ratio "$wh" "$base")|<= 5 ms|$met")
    # The floor for anything that reads this database: SQLite parses every CREATE of sqlite_master
    # (here 2,000 tables and indexes) on the first statement touching the schema, which 'SELECT 1'
    # never does.
    measure sqlite3-read-history "$NOOP_RUNS" 3 "" "sqlite3 $db 'SELECT COUNT(*) FROM __diesel_schema_migrations'"
    local read_history=$MEDIAN
    add_row "no-op, $COUNT applied: vs sqlite3 reading the history (loads the schema)" "$wh" "$read_history"
    # `db upgrade` with nothing to do is the same path as --migrate-only (one read of the history).
    measure workhub-db-upgrade-noop "$NOOP_RUNS" 3 "" "$WORKHUB --database-url $db db upgrade"
    add_row "no-op through \`db upgrade\` (reads the history) vs sqlite3 reading it" "$MEDIAN" "$read_history"

    if [ -n "$DIESEL" ]; then
        local ddb="$WORK/noop-diesel.db"
        eval "$(fresh "$ddb")"
        if "$DIESEL" migration run --database-url "$ddb" --migration-dir "$WORK/migrations" >/dev/null &&
            measure diesel-noop "$NOOP_RUNS" 3 "" "$DIESEL migration run --database-url $ddb --migration-dir $WORK/migrations"; then
            add_row "no-op, $COUNT applied: vs diesel_cli" "$wh" "$MEDIAN"
        fi
    fi
    if [ -n "$ALEMBIC" ]; then
        local adb="$WORK/noop-alembic.db"
        eval "$(fresh "$adb")"
        # Alembic takes about a second here: fewer runs keep the bench short.
        if "$ALEMBIC" -c "$WORK/alembic/alembic.ini" -x "url=sqlite:///$adb" upgrade head >/dev/null 2>&1 &&
            measure alembic-noop "$ANCHOR_RUNS" 1 "" "$ALEMBIC -c $WORK/alembic/alembic.ini -x url=sqlite:///$adb upgrade head"; then
            add_row "no-op, $COUNT applied: vs Alembic" "$wh" "$MEDIAN"
        fi
    fi
}

# (d) diesel_cli and Alembic applying the same workload, side by side with workhub's median.
# anchors_apply each|all WORKHUB_MEDIAN
anchors_apply() {
    local mode=$1 wh=$2
    if [ -n "$DIESEL" ] && [ "$mode" = each ]; then
        # diesel_cli has no one-transaction mode: it runs each migration in its own transaction.
        local ddb="$WORK/diesel-$mode.db"
        if measure "diesel-$mode" "$ANCHOR_RUNS" 1 "$(fresh "$ddb")" \
            "$DIESEL migration run --database-url $ddb --migration-dir $WORK/migrations"; then
            add_row "apply $COUNT, tx $mode: vs diesel_cli" "$wh" "$MEDIAN"
        else
            note "diesel_cli failed on the workload (tx $mode); see its output above"
        fi
    fi
    if [ -n "$ALEMBIC" ]; then
        local adb="$WORK/alembic-$mode.db"
        if measure "alembic-$mode" "$ANCHOR_RUNS" 1 "$(fresh "$adb")" \
            "$ALEMBIC -c $WORK/alembic/alembic.ini -x url=sqlite:///$adb -x transaction=$mode upgrade head"; then
            add_row "apply $COUNT, tx $mode: vs Alembic" "$wh" "$MEDIAN"
        else
            note "Alembic failed on the workload (tx $mode); see its output above"
        fi
    fi
}

# (e) PostgreSQL: the same 1,000 migrations (portable SQL, so PostgreSQL runs up.sql) vs psql running
# the same statements with the same transaction boundaries and history rows. Target: <= 1.05x.
# The server is WORKHUB_BENCH_POSTGRES (default postgres://postgres@127.0.0.1:5432); skipped with a
# note when none answers.
case_postgres_psql() {
    say "(e) apply $COUNT migrations to a new PostgreSQL database, one transaction each, vs psql"
    local server=${WORKHUB_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
    command -v psql >/dev/null || { note "psql is not installed: the PostgreSQL case is skipped"; return 0; }
    if ! psql "$server/postgres" -X -q -c 'SELECT 1' >/dev/null 2>&1; then
        note "no PostgreSQL server answers at $server: the PostgreSQL case is skipped"
        return 0
    fi
    local db="workhub_bench_$$"
    local recreate="psql $server/postgres -X -q -c \"DROP DATABASE IF EXISTS $db\" -c \"CREATE DATABASE $db\""
    sed 's/^BEGIN IMMEDIATE;$/BEGIN;/' "$WORK/baseline-each.sql" >"$WORK/baseline-postgres.sql"
    measure workhub-postgres "$RUNS" 1 "$recreate" "$WORKHUB --database-url $server/$db --migrate-only"
    local wh=$MEDIAN
    check_applied_postgres "$server/$db"
    measure psql-each "$RUNS" 1 "$recreate" "psql $server/$db -X -q -v ON_ERROR_STOP=1 -f $WORK/baseline-postgres.sql"
    check_applied_postgres "$server/$db"
    psql "$server/postgres" -X -q -c "DROP DATABASE IF EXISTS $db" >/dev/null
    add_row "PostgreSQL, apply $COUNT, tx each: vs psql" "$wh" "$MEDIAN" 1.05
}

check_applied_postgres() {
    local counts
    counts=$(psql "$1" -X -A -t -c "SELECT (SELECT COUNT(*) FROM __diesel_schema_migrations) || ' ' || (SELECT COUNT(*) FROM __workhub_migrations) || ' ' || (SELECT COUNT(*) FROM pg_tables WHERE tablename LIKE 'bench_%')")
    [ "$counts" = "$COUNT $COUNT $COUNT" ] || die "$1: expected $COUNT migrations, both history rows and tables; found $counts"
}

# (k) MySQL/MariaDB: the same $COUNT generated migrations with SQL for MySQL (up.mysql.sql: the same
# statements, `name` a VARCHAR(255), since MySQL indexes no TEXT without a prefix length), embedded in
# a release workhub built with `--features mysql`, applied to a new database, against the mariadb (or
# mysql) command-line client running the same statements and the same history rows: each statement
# on its own (MySQL commits DDL as it runs), and each migration's two history rows in one
# transaction. What the client does not do is workhub's own bookkeeping: the run record in
# __workhub_migrations_run (a row written with a migration's first statement, moved on with each
# statement, deleted with its history rows), the lock, and reading the history. The two alternate
# (measure_pair): these runs wait on the server's syncs. Target: <= 1.05x. Skipped with a note when
# no client is installed, no server answers at WORKHUB_BENCH_MYSQL (default
# mysql://root@127.0.0.1:3306), or workhub cannot be built with the mysql feature.
case_mysql() {
    say "(k) apply $COUNT migrations to a new MySQL/MariaDB database vs the mariadb client"
    local server=${WORKHUB_BENCH_MYSQL:-mysql://root@127.0.0.1:3306} client
    client=$(command -v mariadb || command -v mysql || true)
    [ -n "$client" ] || { note "neither the mariadb nor the mysql client is installed: the MySQL case is skipped"; return 0; }
    # mysql://user[:password]@host[:port] as the client's options.
    local authority=${server#mysql://} userinfo=root
    authority=${authority%%/*}
    if [[ $authority == *@* ]]; then userinfo=${authority%@*}; authority=${authority##*@}; fi
    local cli="$client --protocol=TCP -h ${authority%%:*} -u ${userinfo%%:*}"
    [[ $authority != *:* ]] || cli+=" -P ${authority##*:}"
    [[ $userinfo != *:* ]] || cli+=" -p${userinfo#*:}"
    if ! $cli -e 'SELECT 1' >/dev/null 2>&1; then
        note "no MySQL/MariaDB server answers at $server (with $client): the MySQL case is skipped"
        return 0
    fi

    # The generator's migrations, each with its MySQL SQL beside its SQLite SQL.
    local dir="$WORK/mysql-migrations" up folder version checksum
    write_history "$dir" "$COUNT" "$WORK/mysql-sqlite-unused.sql"
    for up in "$dir"/*/up.sql; do
        sed 's/name TEXT NOT NULL/name VARCHAR(255) NOT NULL/' "$up" >"${up%.sql}.mysql.sql"
        cp "${up%up.sql}down.sql" "${up%up.sql}down.mysql.sql"
    done
    # The client's script: the history tables as workhub creates them, then per migration its
    # statements and, in one transaction, the history rows workhub writes (history/tables.rs
    # `record` with MySQL's upsert); the checksum is up.mysql.sql's.
    {
        history_tables_sql
        while read -r checksum up; do
            folder=$(basename "$(dirname "$up")")
            version=${folder%%_*}
            version=${version//-/}
            cat "$dir/$up"
            printf 'START TRANSACTION;\n'
            printf "INSERT INTO __diesel_schema_migrations (version) VALUES ('%s');\n" "$version"
            printf "INSERT INTO __workhub_migrations (version, folder, checksum, duration_ms, stamped) VALUES ('%s', '%s', '%s', %d, FALSE) ON DUPLICATE KEY UPDATE folder = VALUES(folder), checksum = VALUES(checksum), applied_at = CURRENT_TIMESTAMP, duration_ms = VALUES(duration_ms), stamped = VALUES(stamped);\n" \
                "$version" "$folder" "$checksum" 1
            printf 'COMMIT;\n'
        done < <(cd "$dir" && find . -mindepth 2 -name up.mysql.sql | sort | sed 's|^\./||' | xargs sha256sum)
    } >"$WORK/baseline-mysql.sql"

    say "building a release workhub with --features mysql embedding them"
    if ! (cd "$SRC" && WORKHUB_EMBED_MIGRATIONS_DIR="$dir" CARGO_TARGET_DIR="$BENCH_TARGET" \
        cargo build --release --quiet -p workhub --features mysql) >"$WORK/mysql-build.log" 2>&1; then
        note "workhub could not be built with --features mysql (it needs the client library: apt-get install libmariadb-dev): the MySQL case is skipped; $(tail -n 3 "$WORK/mysql-build.log" | tr '\n' ' ')"
        return 0
    fi
    local workhub_mysql="$WORK/bin/workhub-mysql"
    cp "$BENCH_TARGET/release/workhub" "$workhub_mysql"

    local db="workhub_bench_$$"
    local recreate="$cli -e \"DROP DATABASE IF EXISTS $db; CREATE DATABASE $db\""
    local workhub_run="$workhub_mysql --database-url $server/$db --migrate-only"
    local client_run="$cli $db -e 'source $WORK/baseline-mysql.sql'"
    # Each once, to see that it applies every migration and records both history rows.
    # What each costs the server, from its counters around that run (server-wide: another client
    # at work at the same time counts too).
    local tool name before after
    local status="SELECT GROUP_CONCAT(VARIABLE_VALUE ORDER BY VARIABLE_NAME SEPARATOR ' ') FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN ('INNODB_DATA_FSYNCS', 'HANDLER_COMMIT', 'QUESTIONS')"
    local -a counted=()
    for tool in "$workhub_run" "$client_run"; do
        eval "$recreate"
        before=$($cli -N -B -e "$status")
        eval "$tool" >/dev/null
        after=$($cli -N -B -e "$status")
        check_applied_mysql "$cli" "$db"
        counted+=("$(awk -v b="$before" -v a="$after" -v n="$COUNT" 'BEGIN { split(b, x, " "); split(a, y, " "); printf "%.1f commits, %.1f fsyncs, %.1f statements", (y[1] - x[1]) / n, (y[2] - x[2]) / n, (y[3] - x[3]) / n }')")
    done
    name=$(basename "$client")
    note "MySQL case, per migration (server counters around one run of each; other clients of the server count too): workhub ${counted[0]}; the $name client ${counted[1]}"

    # A run takes about a minute and a half here (DDL waits on several syncs each): fewer rounds.
    measure_pair workhub-mysql mariadb-client "$MYSQL_ROUNDS" 1 "$recreate" "$workhub_run" "$client_run"
    $cli -e "DROP DATABASE IF EXISTS $db" >/dev/null
    add_row "MySQL ($($cli -N -B -e 'SELECT VERSION()')), apply $COUNT: vs the $name client (which keeps no run record; medians of $MYSQL_ROUNDS alternating rounds)" "$MEDIAN_A" "$MEDIAN_B" 1.05
}

# check_applied_mysql CLIENT DB: every migration applied, with both history rows, and no run record left.
check_applied_mysql() {
    local counts
    counts=$($1 -N -B "$2" -e "SELECT CONCAT((SELECT COUNT(*) FROM __diesel_schema_migrations), ' ', (SELECT COUNT(*) FROM __workhub_migrations), ' ', (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'bench\\_%'))")
    [ "$counts" = "$COUNT $COUNT $COUNT" ] || die "MySQL database $2: expected $COUNT migrations, both history rows and tables; found $counts"
}

# (g) The diesel fixture history on PostgreSQL, read at run time (--migrations-dir), vs diesel_cli on
# the same directory. Both record diesel's version rows; workhub also its companion rows and lock.
case_diesel_fixture() {
    say "(g) a diesel project's PostgreSQL history (the fixture, --migrations-dir) vs diesel_cli"
    local server=${WORKHUB_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
    local fixture="$SRC/crates/app/tests/fixtures/diesel_postgres/migrations"
    [ -d "$fixture" ] || { note "no fixture at $fixture: the diesel fixture case is skipped"; return 0; }
    [ -n "$DIESEL" ] || { note "diesel_cli is missing: the diesel fixture case is skipped"; return 0; }
    if ! "$DIESEL" --version 2>/dev/null | grep -q postgres; then
        note "diesel_cli at $DIESEL was built without PostgreSQL: the diesel fixture case is skipped"
        return 0
    fi
    command -v psql >/dev/null || { note "psql is not installed: the diesel fixture case is skipped"; return 0; }
    if ! psql "$server/postgres" -X -q -c 'SELECT 1' >/dev/null 2>&1; then
        note "no PostgreSQL server answers at $server: the diesel fixture case is skipped"
        return 0
    fi
    local db="workhub_bench_fixture_$$" expected
    expected=$(find "$fixture" -mindepth 2 -maxdepth 2 -name up.sql | wc -l)
    local url="$server/$db"
    local recreate="psql $server/postgres -X -q -c \"DROP DATABASE IF EXISTS $db\" -c \"CREATE DATABASE $db\""
    local workhub_run="$WORKHUB --database-url $url --migrations-dir $fixture --migrate-only"
    local diesel_run="$DIESEL migration run --database-url $url --migration-dir $fixture"
    local applied="SELECT COUNT(*) FROM __diesel_schema_migrations"

    # Each tool once, to see that it applies the whole history.
    eval "$recreate"
    $workhub_run >/dev/null
    [ "$(psql "$url" -X -A -t -c "$applied")" = "$expected" ] || die "workhub did not apply the $expected fixture migrations"
    eval "$recreate"
    $diesel_run >/dev/null
    [ "$(psql "$url" -X -A -t -c "$applied")" = "$expected" ] || die "diesel_cli did not apply the $expected fixture migrations"
    # These runs are bound by the server's commits, which a shared machine's load moves by tens of
    # percent within a minute: the two tools alternate, so both see the same machine. A database is
    # made a second before it is migrated: right after CREATE DATABASE the server is still writing
    # the copied template back, and which tool's commits that lands on decides more than the tools
    # do (measured too, without a target, as the second row).
    measure_pair workhub-fixture-upgrade diesel-fixture-upgrade "$RUNS" 1 "$recreate -c \"SELECT pg_sleep(1)\"" "$workhub_run" "$diesel_run"
    add_row "diesel fixture ($expected, PostgreSQL), full upgrade: vs diesel_cli" "$MEDIAN_A" "$MEDIAN_B" 1.05
    measure_pair workhub-fixture-fresh diesel-fixture-fresh "$RUNS" 1 "$recreate" "$workhub_run" "$diesel_run"
    add_row "diesel fixture ($expected, PostgreSQL), full upgrade right after CREATE DATABASE: vs diesel_cli" "$MEDIAN_A" "$MEDIAN_B"

    # The same database, every migration applied, for both no-op runs.
    eval "$recreate"
    $workhub_run >/dev/null
    measure_pair workhub-fixture-noop diesel-fixture-noop 10 $(( (NOOP_RUNS + 9) / 10 )) "" "$workhub_run" "$diesel_run"
    add_row "diesel fixture ($expected, PostgreSQL), no-op: vs diesel_cli" "$MEDIAN_A" "$MEDIAN_B" 1.05
    psql "$server/postgres" -X -q -c "DROP DATABASE IF EXISTS $db" >/dev/null
}

# serve_health NAME DB [MIGRATIONS_DIR]: req/s of GET /health of `workhub serve` on DB (wrk, 8
# connections, 5 s), into RPS; fails on any non-2xx answer or a status other than ok.
RPS=""
serve_health() {
    local name=$1 db=$2 dir=${3:-} out pid addr=""
    # Production, as load balancers meet it: the start only checks the database is at head.
    local -a env=(DATABASE_URL="$db" WORKHUB_ADDR=127.0.0.1:0 WORKHUB_ENV=production RUST_LOG=warn)
    [ -z "$dir" ] || env+=(WORKHUB_MIGRATIONS_DIR="$dir")
    env "${env[@]}" "$WORKHUB" serve >"$WORK/$name.stdout" 2>"$WORK/$name.stderr" &
    pid=$!
    for _ in $(seq 1 600); do
        addr=$(sed -n 's|^workhub listening on http://\([^ ]*\).*|\1|p' "$WORK/$name.stdout" | head -n1)
        [ -n "$addr" ] && break
        sleep 0.1
    done
    if [ -z "$addr" ]; then
        kill "$pid" 2>/dev/null || true
        die "workhub serve ($name) did not start: $(cat "$WORK/$name.stdout" "$WORK/$name.stderr")"
    fi
    curl -sf "http://$addr/health" | grep -q '"status":"ok"' || { kill "$pid"; die "/health ($name) is not ok"; }
    out=$(wrk -t2 -c8 -d5s "http://$addr/health")
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if echo "$out" | grep -q "Non-2xx"; then die "/health ($name) answered non-2xx: $out"; fi
    RPS=$(echo "$out" | awk '/^Requests\/sec:/ { printf "%.0f", $2 }')
    echo "    $name: $RPS req/s"
}

# (h) /health on a long history against a fresh database, the same binary.
case_health() {
    say "(h) GET /health with $COUNT migrations applied vs a fresh database (wrk)"
    command -v wrk >/dev/null || { note "wrk is not installed (apt-get install -y wrk): the /health case is skipped"; return 0; }
    command -v curl >/dev/null || { note "curl is not installed: the /health case is skipped"; return 0; }
    local long="$WORK/health-long.db" fresh_db="$WORK/health-fresh.db" one="$WORK/health-one"
    eval "$(fresh "$long")"
    eval "$(fresh "$fresh_db")"
    "$WORKHUB" --database-url "$long" --migrate-only >/dev/null
    mkdir -p "$one"
    cp -r "$(find "$WORK/migrations" -mindepth 1 -maxdepth 1 -type d | sort | head -n1)" "$one/"
    "$WORKHUB" --database-url "$fresh_db" --migrations-dir "$one" --migrate-only >/dev/null
    local rounds=2 round long_rps=() fresh_rps=()
    for round in $(seq "$rounds"); do
        serve_health "health-fresh-$round" "$fresh_db" "$one"
        fresh_rps+=("$RPS")
        serve_health "health-long-$round" "$long"
        long_rps+=("$RPS")
    done
    local best_long best_fresh
    best_long=$(printf '%s\n' "${long_rps[@]}" | sort -n | tail -n1)
    best_fresh=$(printf '%s\n' "${fresh_rps[@]}" | sort -n | tail -n1)
    local share met=NO
    share=$(awk -v a="$best_long" -v b="$best_fresh" 'BEGIN { printf "%.2fx", a / b }')
    awk -v a="$best_long" -v b="$best_fresh" 'BEGIN { exit !(a >= 0.9 * b) }' && met=yes
    ROWS+=("GET /health, $COUNT applied: req/s vs a fresh database (higher is better)|$best_long req/s|$best_fresh req/s|$share|>= 0.9x|$met")
}

# (f) Autogenerate on a model of 500 and of 2,000 tables x 20 columns (each with an index and a
# foreign key) whose one migration exists, with one column changed: getting the schema the migration
# builds, comparing it with the model and rendering both dialects, as `workhub db create` does. Two
# series: the migration replayed into a scratch database and read back (a history not seen before),
# the schema a replay of it kept read from its file (a second run on an unchanged history), and a
# history grown by one migration since (the kept database with only the new migration applied). The
# example measures that work in-process (medians over 10 runs, 5 at 2,000 tables). Target: <= 0.3 s;
# the 2,000/500 ratio of each series is the growth check (linear in tables would be 4x). For
# reference, the issue measured Alembic at 6.7 s on the 500-table case on this kind of machine.
case_autogenerate() {
    say "(f) autogenerate: 500 and 2,000 tables x 20 columns, one column changed"
    local tables runs out series median
    local -A at=()
    for tables in 500 2000; do
        runs=10
        [ "$tables" = 2000 ] && runs=5
        out=$(cd "$SRC" && WORKHUB_BENCH_SQL="$WORK/autogenerate-$tables.sql" \
            WORKHUB_BENCH_CHANGE_SQL="$WORK/autogenerate-change-$tables.sql" CARGO_TARGET_DIR="$BENCH_TARGET" \
            cargo run --release --quiet -p workhub-migrations --example autogenerate_bench -- "$tables" "$runs")
        printf '    %s\n' "$out"
        # SQLite's own floor for the replay: the sqlite3 shell running the same migration in memory.
        measure "sqlite3-replay-$tables" "$runs" 1 "" "sqlite3 -bail :memory: '.read $WORK/autogenerate-$tables.sql'"
        at["$tables sqlite3"]=$MEDIAN
        # And for one new migration: the shell copying the database the history built and applying
        # the new migration to the copy (what workhub does with a kept replay, before reading back
        # the tables it changed and comparing).
        rm -f "$WORK/autogenerate-base-$tables.db"
        sqlite3 -bail "$WORK/autogenerate-base-$tables.db" ".read $WORK/autogenerate-$tables.sql"
        printf 'cp %s %s && sqlite3 -bail %s ".read %s"\n' "$WORK/autogenerate-base-$tables.db" \
            "$WORK/autogenerate-copy-$tables.db" "$WORK/autogenerate-copy-$tables.db" \
            "$WORK/autogenerate-change-$tables.sql" >"$WORK/autogenerate-change-$tables.sh"
        measure "sqlite3-new-migration-$tables" "$runs" 1 "" "bash $WORK/autogenerate-change-$tables.sh"
        at["$tables sqlite3 new"]=$MEDIAN
        for series in "replayed" "kept schema" "one new migration"; do
            median=$(printf '%s\n' "$out" | sed -n "s/.*, $series: median \([0-9.]*\) ms.*/\1/p")
            [ -n "$median" ] || die "no median of the $series series in the autogenerate output: $out"
            at["$tables $series"]=$(awk -v m="$median" 'BEGIN { printf "%.6f", m / 1000 }')
        done
    done
    local seconds met case
    for series in "replayed" "kept schema" "one new migration"; do
        for tables in 500 2000; do
            seconds=${at["$tables $series"]}
            met=NO
            le "$seconds" 0.3 && met=yes
            case="autogenerate $tables tables x 20 columns, one change, $series"
            [ "$series" = replayed ] && [ "$tables" = 500 ] && case+=" (Alembic: 6.7 s per the issue)"
            [ "$series" = "kept schema" ] && case+=" (a second run on an unchanged history)"
            [ "$series" = "one new migration" ] && case+=" (the history grew by one migration since the kept replay)"
            if [ "$series" = replayed ]; then
                case+=" vs the sqlite3 shell running the migration (SQLite's floor)"
                ROWS+=("$case|$(ms "$seconds")|$(ms "${at["$tables sqlite3"]}")|$(ratio "$seconds" "${at["$tables sqlite3"]}")|<= 300 ms|$met")
            elif [ "$series" = "one new migration" ]; then
                case+=" vs the sqlite3 shell applying it to a copy of the history's database (SQLite's floor)"
                ROWS+=("$case|$(ms "$seconds")|$(ms "${at["$tables sqlite3 new"]}")|$(ratio "$seconds" "${at["$tables sqlite3 new"]}")|<= 300 ms|$met")
            else
                ROWS+=("$case|$(ms "$seconds")|—|—|<= 300 ms|$met")
            fi
        done
        # Growth: the same series at 2,000 tables against 500, measured in this run.
        ROWS+=("autogenerate growth, $series: 2,000 tables vs 500 (linear: 4x)|$(ms "${at["2000 $series"]}")|$(ms "${at["500 $series"]}")|$(ratio "${at["2000 $series"]}" "${at["500 $series"]}")|—|—")
    done
}

# (i) Growth in the history: each size's own directory of migrations, all read with --migrations-dir
# (the embedded binary holds $COUNT). Runs shrink as the history grows, to keep the bench short.
case_growth() {
    say "(i) growth: histories of $GROWTH migrations"
    local n runs db dir base peak
    local -A apply=() sqlite=() check=() noop=()
    for n in $GROWTH; do
        dir="$WORK/growth-$n"
        # Tables of their own: a history the binary does not embed, so `db check` compares the database
        # with what it builds (not with workhub's models).
        write_history "$dir" "$n" "$WORK/growth-$n.sql" grow
        runs=5
        [ "$n" -lt 5000 ] || runs=3
        db="$WORK/growth-$n.db"
        # Bound by the disk's syncs, which a shared machine makes noisy: alternating rounds, and the
        # CPU time of each (what the tool itself computed) beside the wall time.
        local rounds=3 cpu_wh cpu_sq
        [ "$n" -lt 5000 ] || runs=1
        measure_pair "workhub-apply-$n" "sqlite3-apply-$n" "$rounds" "$runs" "$(fresh "$db")" \
            "$WORKHUB --database-url $db --migrations-dir $dir --migrate-only" \
            "sqlite3 -bail $db '.read $WORK/growth-$n.sql'"
        apply[$n]=$MEDIAN_A
        sqlite[$n]=$MEDIAN_B
        measure "workhub-apply-cpu-$n" "$runs" 0 "$(fresh "$db")" "$WORKHUB --database-url $db --migrations-dir $dir --migrate-only" >/dev/null
        cpu_wh=$CPU
        measure "sqlite3-apply-cpu-$n" "$runs" 0 "$(fresh "$db")" "sqlite3 -bail $db '.read $WORK/growth-$n.sql'" >/dev/null
        cpu_sq=$CPU
        add_row "apply $n (--migrations-dir), tx each: vs sqlite3 (CPU time $(ms "$cpu_wh") vs $(ms "$cpu_sq"): $(ratio "$cpu_wh" "$cpu_sq"))" "${apply[$n]}" "${sqlite[$n]}" 1.0
        eval "$(fresh "$db")"
        "$WORKHUB" --database-url "$db" --migrations-dir "$dir" --migrate-only >/dev/null
        # db check replays the history into a scratch database once per history state, then reads
        # the schema that replay kept: the first run on a new cache is the cold one.
        local cache="$WORK/growth-cache-$n"
        rm -rf "$cache"
        local started ended cold
        started=$(date +%s.%N)
        WORKHUB_SCHEMA_CACHE=$cache "$WORKHUB" --database-url "$db" --migrations-dir "$dir" db check >/dev/null
        ended=$(date +%s.%N)
        cold=$(awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.6f", b - a }')
        measure "workhub-check-$n" "$runs" 1 "" "env WORKHUB_SCHEMA_CACHE=$cache $WORKHUB --database-url $db --migrations-dir $dir db check"
        check[$n]=$MEDIAN
        peak=$(WORKHUB_SCHEMA_CACHE=$cache /usr/bin/time -f '%M' "$WORKHUB" --database-url "$db" --migrations-dir "$dir" db check 2>&1 >/dev/null | tail -n1)
        local met=—
        if [ "$n" -ge 10000 ]; then met=NO; le "${check[$n]}" 1 && met=yes; fi
        ROWS+=("db check at head, $n migrations (peak memory $((peak / 1024)) MiB; first run on the history, replaying it: $(ms "$cold"))|$(ms "${check[$n]}")|—|—|$([ "$n" -ge 10000 ] && echo '<= 1 s' || echo —)|$met")
        measure "workhub-noop-$n" 20 2 "" "$WORKHUB --database-url $db --migrations-dir $dir --migrate-only"
        noop[$n]=$MEDIAN
        ROWS+=("no-op, $n applied (--migrations-dir)|$(ms "${noop[$n]}")|—|—|—|—")
    done
    local sizes=($GROWTH)
    local small=${sizes[0]} large=${sizes[${#sizes[@]} - 1]}
    [ "$small" != "$large" ] || return 0
    local what
    for what in apply check noop; do
        local -n series=$what
        ROWS+=("growth $small -> $large, workhub $what (linear: $((large / small))x)|$(ms "${series[$large]}")|$(ms "${series[$small]}")|$(ratio "${series[$large]}" "${series[$small]}")|—|—")
    done
    ROWS+=("growth $small -> $large, sqlite3 shell apply (SQLite's own floor)|$(ms "${sqlite[$large]}")|$(ms "${sqlite[$small]}")|$(ratio "${sqlite[$large]}" "${sqlite[$small]}")|—|—")
}

# (j) The write stall (issue 17): the test's own measurements, appended under the table.
case_write_stall() {
    say "(j) write stall on PostgreSQL: generated changes vs naive ones, 1,000,000 rows under writes"
    local table="$WORK/write-stall.md"
    if ! (cd "$SRC" && CI=true WORKHUB_STALL_REPORT="$table" CARGO_TARGET_DIR="$BENCH_TARGET" \
        cargo test --release --quiet -p workhub-migrations --test write_stall >/dev/null 2>&1); then
        note "the write-stall test failed or found no PostgreSQL server (run \`cargo test -p workhub-migrations --test write_stall\` to see why)"
        return 0
    fi
    STALL_TABLE=$(cat "$table")
    printf '%s\n' "$STALL_TABLE"
}

# ---------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------

machine() {
    local cpu mem
    cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
    mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null || true)
    printf '%s CPUs (%s), %s RAM, %s' "$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)" "${cpu:-unknown CPU}" \
        "${mem:-unknown}" "$(uname -sr)"
}

report() {
    local row
    {
        printf '| case | workhub median | baseline median | ratio | target | met? |\n'
        printf '| --- | ---: | ---: | ---: | --- | --- |\n'
        for row in "${ROWS[@]}"; do
            printf '| %s |\n' "${row//|/ | }"
        done
        printf '\n'
        printf 'Date: %s. Machine: %s; load average when measuring began %s.\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(machine)" "$LOAD"
        printf 'workhub %s (release), SQLite bundled by libsqlite3-sys; baseline sqlite3 shell %s' \
            "$BUILT" "$(sqlite3 --version | cut -d' ' -f1)"
        [ -z "$DIESEL" ] || printf '; %s' "$("$DIESEL" --version 2>/dev/null | awk '/Version/ { printf "diesel_cli %s", $2 }')"
        [ -z "$ALEMBIC" ] || printf '; %s' "$("$ALEMBIC" --version 2>/dev/null | head -n1 | tr -d '\n')"
        printf '. %s migrations; medians of %s runs (apply), %s (no-op), %s (diesel_cli/Alembic apply, Alembic no-op).\n' \
            "$COUNT" "$RUNS" "$NOOP_RUNS" "$ANCHOR_RUNS"
        if [ -n "$STALL_TABLE" ]; then
            printf '\nWrite stall on PostgreSQL (the longest a write from another connection waited while the change ran; a lock wait over the bound fails the write, which is tried again):\n\n%s\n' "$STALL_TABLE"
        fi
        for row in "${NOTES[@]+"${NOTES[@]}"}"; do
            printf '\nNote: %s\n' "$row"
        done
    } >"$REPORT"
    say "report (also in ${REPORT#"$ROOT/"})"
    printf '\n'
    cat "$REPORT"
}

# ---------------------------------------------------------------------------------------------------

main() {
    [ "$#" -eq 0 ] || CASES=("$@")
    local case
    for case in "${CASES[@]}"; do
        declare -F "$case" >/dev/null || die "no case $case (cases: $(declare -F | awk '/ case_/ { printf "%s ", $3 }'))"
    done
    need_tools
    mkdir -p "$BENCH_TARGET"
    prepare_source
    generate_workload
    build_workhub
    find_diesel
    find_alembic
    LOAD=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
    cd "$WORK" # no .env of the repository is read by workhub
    for case in "${CASES[@]}"; do
        "$case"
    done
    report
}

main "$@"

# --- API benchmark (issue 5): a separate script, run after a full run (not when cases are named) ---
if [ "$#" -eq 0 ] && [ -f "$ROOT/scripts/bench_api.sh" ]; then
    bash "$ROOT/scripts/bench_api.sh"
fi
