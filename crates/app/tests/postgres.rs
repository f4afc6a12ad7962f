//! The workflow on a real PostgreSQL server: the repository's own history up and down, replicas
//! migrating at once under the advisory lock, a failed migration releasing the lock, the lock's
//! holder named to a waiter, and migrations outside a transaction. Each test creates and drops its own
//! database; with no server they print a visible skip notice (and fail under CI=true).

mod common;

use std::time::Duration;

use common::{
    assert_each_applied_once, migrate_at_once, step_folder, workhub_command, Fixture, Run,
};
use diesel::sql_types::BigInt;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use workhub_migrations::apply::{Backend, Postgres, TemporaryDatabase};
use workhub_migrations::testing::postgres_server;
use workhub_migrations::DatabaseUrl;

fn database(test: &str) -> Option<TemporaryDatabase> {
    let server = postgres_server(test)?;
    Some(TemporaryDatabase::create(&server, "test").expect("create a test database"))
}

fn url(database: &TemporaryDatabase) -> String {
    match database.url() {
        DatabaseUrl::Postgres(raw) => raw.clone(),
        _ => unreachable!(),
    }
}

fn scalar(database: &TemporaryDatabase, sql: &str) -> i64 {
    let mut conn = PgConnection::establish(&url(database)).expect("connect");
    scalar_on(&mut conn, sql)
}

fn scalar_on(conn: &mut PgConnection, sql: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Number {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let rows: Vec<Number> = diesel::sql_query(format!("SELECT CAST(({sql}) AS BIGINT) AS n"))
        .load(conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows[0].n
}

fn user_tables(database: &TemporaryDatabase) -> i64 {
    scalar(
        database,
        "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE '\\_\\_%'",
    )
}

/// `workhub` with the binary's embedded migrations (the repository's own) on `database`.
fn embedded(dir: &std::path::Path, database: &TemporaryDatabase, args: &[&str]) -> Run {
    let mut command = workhub_command(dir);
    command.env("DATABASE_URL", url(database)).args(args);
    common::output(&mut command)
}

#[test]
fn the_repository_history_goes_up_and_down_on_postgres() {
    let Some(database) = database("the_repository_history_goes_up_and_down_on_postgres") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    embedded(dir.path(), &database, &["db", "upgrade"]).expect_code(0);
    assert!(user_tables(&database) >= 5, "the models' tables exist");
    // check replays the PostgreSQL SQL into a scratch database and compares it with the models.
    let check = embedded(dir.path(), &database, &["db", "check"]);
    check.expect_code(0);
    assert!(
        check.stdout.contains("the models match the migrations"),
        "{}",
        check.stdout
    );
    embedded(dir.path(), &database, &["db", "downgrade", "base"]).expect_code(0);
    assert_eq!(user_tables(&database), 0);
    assert_eq!(
        scalar(&database, "SELECT COUNT(*) FROM __diesel_schema_migrations"),
        0
    );
    embedded(dir.path(), &database, &["db", "upgrade"]).expect_code(0);
    embedded(dir.path(), &database, &["db", "current"]).expect_code(0);
    // Stamping head over the same schema is accepted; the schema is compared first.
    embedded(dir.path(), &database, &["db", "stamp", "base", "--force"]).expect_code(0);
    let stamped = embedded(dir.path(), &database, &["db", "stamp", "head"]);
    stamped.expect_code(0);
    assert!(stamped.stdout.contains("recorded"), "{}", stamped.stdout);
    // No scratch database is left behind. Other tests' commands on this server make scratch
    // databases of their own for a moment, so a leak is one that stays.
    let scratch = || {
        scalar(
            &database,
            "SELECT COUNT(*) FROM pg_database WHERE datname LIKE 'workhub_scratch_%'",
        )
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while scratch() != 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(scratch(), 0, "a scratch database was left behind");
}

#[test]
fn stamp_refuses_a_postgres_schema_that_differs_from_the_target() {
    let Some(database) = database("stamp_refuses_a_postgres_schema_that_differs_from_the_target")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut conn = PgConnection::establish(&url(&database)).unwrap();
    diesel::sql_query("CREATE TABLE users (id BIGINT PRIMARY KEY, email TEXT)")
        .execute(&mut conn)
        .unwrap();
    let refused = embedded(dir.path(), &database, &["db", "stamp", "head"]);
    refused.expect_failure(1, &["differs from what head builds", "--force"]);
    // Refused before anything was written: not even the history tables exist.
    assert_eq!(
        scalar(
            &database,
            "SELECT COUNT(*) FROM pg_tables WHERE tablename LIKE '\\_\\_%'"
        ),
        0
    );
}

#[test]
fn eight_replicas_migrating_one_postgres_database_apply_each_migration_once() {
    let Some(database) =
        database("eight_replicas_migrating_one_postgres_database_apply_each_migration_once")
    else {
        return;
    };
    let fixture = Fixture::with_steps(20);
    let runs = migrate_at_once(&fixture, &url(&database), 8);
    let expected: Vec<String> = (1..=20).map(step_folder).collect();
    assert_each_applied_once(&runs, &expected, "server pid ");
    assert_eq!(
        scalar(&database, "SELECT COUNT(*) FROM __diesel_schema_migrations"),
        20
    );
    assert_eq!(
        scalar(&database, "SELECT COUNT(*) FROM __workhub_migrations"),
        20
    );
    assert_eq!(user_tables(&database), 20);
}

#[test]
fn a_failing_migration_releases_the_lock_at_once() {
    let Some(database) = database("a_failing_migration_releases_the_lock_at_once") else {
        return;
    };
    let fixture = Fixture::with_steps(1);
    let broken = fixture.migration(
        "2024-01-01-000002_broken",
        "CREATE TABLE t02 (id INTEGER PRIMARY KEY);\nINSERT INTO missing VALUES (1);\n",
        Some("DROP TABLE t02;\n"),
    );
    let run = |args: &[&str]| {
        let mut command = fixture.workhub();
        command
            .env("DATABASE_URL", url(&database))
            .env("WORKHUB_LOCK_TIMEOUT", "0")
            .args(args);
        common::output(&mut command)
    };
    run(&["db", "upgrade"]).expect_failure(
        1,
        &["2024-01-01-000002_broken", "INSERT INTO missing", "missing"],
    );
    // The first migration stays applied, the failed one left nothing (transactional DDL).
    assert_eq!(
        scalar(&database, "SELECT COUNT(*) FROM __diesel_schema_migrations"),
        1
    );
    assert_eq!(
        scalar(
            &database,
            "SELECT COUNT(*) FROM pg_tables WHERE tablename = 't02'"
        ),
        0
    );
    // With a zero lock timeout, any lock left behind would fail the next run at once.
    std::fs::write(
        broken.join("up.sql"),
        "CREATE TABLE t02 (id INTEGER PRIMARY KEY);\n",
    )
    .unwrap();
    let fixed = run(&["db", "upgrade"]);
    fixed.expect_code(0);
    assert!(!fixed.stderr.contains("waiting"), "{}", fixed.stderr);
    assert_eq!(
        scalar(&database, "SELECT COUNT(*) FROM __diesel_schema_migrations"),
        2
    );
}

#[test]
fn a_waiter_names_the_holder_of_the_postgres_lock_and_gives_up() {
    let Some(database) = database("a_waiter_names_the_holder_of_the_postgres_lock_and_gives_up")
    else {
        return;
    };
    let fixture = Fixture::with_steps(1);
    let mut holder = Postgres::open(database.url()).unwrap();
    holder.lock(Duration::ZERO, &mut |_| {}).unwrap();
    let mut command = fixture.workhub();
    command
        .env("DATABASE_URL", url(&database))
        .env("WORKHUB_LOCK_TIMEOUT", "0.5")
        .args(["db", "upgrade"]);
    let run = common::output(&mut command);
    run.expect_failure(
        1,
        &[
            "gave up after",
            "server pid",
            "workhub migrate",
            "WORKHUB_LOCK_TIMEOUT",
        ],
    );
    assert_eq!(
        scalar(
            &database,
            "SELECT COUNT(*) FROM pg_tables WHERE tablename = 't01'"
        ),
        0
    );
    holder.unlock();
    fixture.ok_with(&[("DATABASE_URL", &url(&database))], &["db", "upgrade"]);
}

#[test]
fn migrations_outside_a_transaction_run_statement_by_statement_on_postgres() {
    let Some(database) =
        database("migrations_outside_a_transaction_run_statement_by_statement_on_postgres")
    else {
        return;
    };
    let fixture = Fixture::with_steps(1);
    let concurrent = fixture.migration(
        "2024-01-01-000002_index_concurrently",
        "CREATE INDEX CONCURRENTLY t01_id_idx ON t01 (id);\n",
        Some("DROP INDEX CONCURRENTLY t01_id_idx;\n"),
    );
    std::fs::write(
        concurrent.join("metadata.toml"),
        "run_in_transaction = false\n",
    )
    .unwrap();
    let pg = [("DATABASE_URL", url(&database))];
    let env: Vec<(&str, &str)> = pg.iter().map(|(k, v)| (*k, v.as_str())).collect();
    fixture.ok_with(&env, &["db", "upgrade"]);
    assert_eq!(
        scalar(
            &database,
            "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 't01_id_idx'"
        ),
        1
    );
    // --transaction all refuses such a migration before running anything.
    fixture.ok_with(&env, &["db", "downgrade", "-1"]);
    let mut command = fixture.workhub();
    command
        .envs(env.iter().copied())
        .args(["db", "upgrade", "--transaction", "all"]);
    common::output(&mut command).expect_failure(
        1,
        &[
            "run_in_transaction = false",
            "2024-01-01-000002_index_concurrently",
        ],
    );
    // A failing statement outside a transaction is not recorded.
    std::fs::write(
        concurrent.join("up.sql"),
        "CREATE INDEX CONCURRENTLY t01_id_idx ON no_such_table (id);\n",
    )
    .unwrap();
    let mut command = fixture.workhub();
    command.envs(env.iter().copied()).args(["db", "upgrade"]);
    common::output(&mut command).expect_failure(1, &["outside a transaction", "no_such_table"]);
    assert_eq!(
        scalar(&database, "SELECT COUNT(*) FROM __diesel_schema_migrations"),
        1
    );
}

/// The bundled libpq is built with OpenSSL: a server reached with `sslmode=require` is migrated over
/// TLS, and the connection is encrypted.
#[test]
fn a_server_that_requires_tls_is_reached_over_tls() {
    let test = "a_server_that_requires_tls_is_reached_over_tls";
    let Some(database) = database(test) else {
        return;
    };
    if scalar(
        &database,
        "SELECT CASE WHEN current_setting('ssl') = 'on' THEN 1 ELSE 0 END",
    ) == 0
    {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true" || v == "1"),
            "{test}: the PostgreSQL server has ssl = off, and CI=true requires a server with TLS"
        );
        workhub_migrations::testing::skipped(&format!(
            "SKIPPED {test}: the PostgreSQL server has ssl = off; turn it on to run this test"
        ));
        return;
    }
    let raw = url(&database);
    let tls = format!(
        "{raw}{}sslmode=require",
        if raw.contains('?') { '&' } else { '?' }
    );

    #[derive(QueryableByName)]
    struct Encrypted {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        ssl: bool,
    }
    let mut conn = PgConnection::establish(&tls).expect("connect with sslmode=require");
    let row: Encrypted =
        diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .get_result(&mut conn)
            .expect("read pg_stat_ssl");
    assert!(row.ssl, "the connection is not encrypted");

    let dir = tempfile::tempdir().unwrap();
    let mut command = workhub_command(dir.path());
    command.env("DATABASE_URL", &tls).args(["db", "upgrade"]);
    common::output(&mut command).expect_code(0);
    assert!(user_tables(&database) >= 5, "the models' tables exist");
}

/// Everything a migration command could change in a PostgreSQL database: its tables and both
/// history tables' rows (when they exist). Two equal snapshots mean the command changed nothing.
fn snapshot(database: &TemporaryDatabase) -> (Vec<String>, i64, i64) {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    let mut conn = PgConnection::establish(&url(database)).expect("connect");
    let tables: Vec<Name> = diesel::sql_query(
        "SELECT tablename::text AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .load(&mut conn)
    .unwrap();
    let tables: Vec<String> = tables.into_iter().map(|t| t.name).collect();
    let rows = |table: &str| {
        if tables.iter().any(|t| t == table) {
            scalar(database, &format!("SELECT COUNT(*) FROM {table}"))
        } else {
            -1
        }
    };
    let counts = (
        rows("__diesel_schema_migrations"),
        rows("__workhub_migrations"),
    );
    (tables, counts.0, counts.1)
}

fn on(fixture: &Fixture, database: &TemporaryDatabase, args: &[&str]) -> Run {
    let mut command = fixture.workhub();
    command.env("DATABASE_URL", url(database)).args(args);
    common::output(&mut command)
}

/// On an empty PostgreSQL database every refusal exits non-zero and creates nothing, not even the
/// history tables; a refusal on a migrated one changes nothing.
#[test]
fn a_refusal_on_postgres_creates_nothing() {
    let Some(database) = database("a_refusal_on_postgres_creates_nothing") else {
        return;
    };
    let fixture = Fixture::with_steps(2);
    // Exit code 2 for a target that is wrong whatever the database holds, 1 for a refusal.
    let refusals: [(&[&str], &str, i32); 6] = [
        (&["db", "upgrade", "+5"], "only 2 pending", 1),
        (&["db", "downgrade"], "only 0 applied", 1),
        (&["db", "upgrade", "nonsense"], "no migration matches", 2),
        (&["db", "stamp", "nonsense"], "no migration matches", 2),
        (&["db", "upgrade", "-1"], "upgrade only goes forward", 2),
        (&["db", "stamp", "+3"], "only 2 pending", 1),
    ];
    for (args, needle, code) in refusals {
        on(&fixture, &database, args).expect_failure(code, &[needle, "postgres://"]);
        assert_eq!(
            snapshot(&database),
            (Vec::new(), -1, -1),
            "`{}` created something",
            args.join(" ")
        );
    }
    on(&fixture, &database, &["db", "upgrade", "+1"]).expect_code(0);
    let before = snapshot(&database);
    for (args, _, code) in refusals.iter().filter(|(args, ..)| args.len() > 2) {
        on(&fixture, &database, args).expect_code(*code);
        assert_eq!(snapshot(&database), before, "`{}`", args.join(" "));
    }
    // Unknown versions below head are not blamed on a newer build there either.
    on(&fixture, &database, &["db", "upgrade"]).expect_code(0);
    // (A version older than every migration is a squashed history's, ignored with a warning; one
    // between known versions is unknown.)
    let mut conn = PgConnection::establish(&url(&database)).unwrap();
    diesel::sql_query(
        "INSERT INTO __diesel_schema_migrations (version) VALUES ('20240101000001a')",
    )
    .execute(&mut conn)
    .unwrap();
    drop(conn);
    let before = snapshot(&database);
    let run = on(&fixture, &database, &["db", "upgrade"]);
    run.expect_failure(
        1,
        &[
            "sort below this binary's newest migration",
            "nothing was run",
        ],
    );
    assert!(!run.stderr.contains("newer binary"), "{}", run.stderr);
    assert_eq!(snapshot(&database), before);
}

/// A migrator killed while its server backend lives on (here: a session that claims a workhub
/// process of this host that is gone): the waiter names the backend, says the client is gone, and
/// gives the `pg_terminate_backend` hint.
#[test]
fn a_waiter_says_when_the_lock_holder_s_client_is_gone() {
    let Some(database) = database("a_waiter_says_when_the_lock_holder_s_client_is_gone") else {
        return;
    };
    let fixture = Fixture::with_steps(1);
    // The kernel hands out pids below pid_max only, so no process can ever have this one (a pid of a
    // process that just exited could be reused by another test's process before the check).
    let dead_pid: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let mut holder = PgConnection::establish(&url(&database)).unwrap();
    diesel::sql_query(format!(
        "SELECT set_config('application_name', 'workhub migrate pid {dead_pid}@{}', false)",
        host.trim()
    ))
    .execute(&mut holder)
    .unwrap();
    diesel::sql_query("SELECT pg_advisory_lock(8606223218567897709)")
        .execute(&mut holder)
        .unwrap();
    let backend = scalar_on(&mut holder, "SELECT pg_backend_pid()");

    let mut command = fixture.workhub();
    command
        .env("DATABASE_URL", url(&database))
        .env("WORKHUB_LOCK_TIMEOUT", "0.5")
        .args(["db", "upgrade"]);
    let run = common::output(&mut command);
    run.expect_failure(
        1,
        &[
            &format!(
                "waiting for the migration lock, held by server pid {}",
                backend
            ),
            &format!("its workhub process {dead_pid} on this host appears gone"),
            &format!("SELECT pg_terminate_backend({backend})"),
            "gave up after",
            "nothing was run",
        ],
    );
    assert_eq!(snapshot(&database), (Vec::new(), -1, -1));
}

/// Advisory locks are per database: migrators of other databases on the server hold the same key in
/// their own, and a waiter names the holder in its database, never theirs.
#[test]
fn a_waiter_names_the_holder_in_its_own_database_only() {
    let test = "a_waiter_names_the_holder_in_its_own_database_only";
    let Some(database) = database(test) else {
        return;
    };
    let server = postgres_server(test).expect("the server answered a moment ago");
    let hold = |url: &str, name: &str| {
        let mut conn = PgConnection::establish(url).unwrap();
        diesel::sql_query(format!(
            "SELECT set_config('application_name', '{name}', false)"
        ))
        .execute(&mut conn)
        .unwrap();
        diesel::sql_query("SELECT pg_advisory_lock(8606223218567897709)")
            .execute(&mut conn)
            .unwrap();
        let pid = scalar_on(&mut conn, "SELECT pg_backend_pid()");
        (conn, pid)
    };
    // Three other databases' migrators, taking the key before this database's holder does.
    let others: Vec<_> = (0..3)
        .map(|_| TemporaryDatabase::create(&server, "test").expect("create a test database"))
        .collect();
    let other_holders: Vec<_> = others
        .iter()
        .map(|other| hold(&url(other), "other database"))
        .collect();
    let (_conn, pid) = hold(&url(&database), "this database");

    let fixture = Fixture::with_steps(1);
    let mut command = fixture.workhub();
    command
        .env("DATABASE_URL", url(&database))
        .env("WORKHUB_LOCK_TIMEOUT", "0.3")
        .args(["db", "upgrade"]);
    let run = common::output(&mut command);
    run.expect_failure(
        1,
        &[
            &format!("held by server pid {pid} (this database;"),
            "gave up after",
            "nothing was run",
        ],
    );
    for (_, other) in &other_holders {
        assert!(
            !run.all().contains(&format!("server pid {other} ")),
            "{}",
            run.all()
        );
    }
    assert_eq!(snapshot(&database), (Vec::new(), -1, -1));
}

/// A migration's script goes to PostgreSQL in one round trip; when it fails, the error still names the
/// statement that failed (the script is run again statement by statement, then rolled back), and
/// nothing of it stays: not the table its first statement created, nor a sequence's rows.
#[test]
fn a_failing_script_names_its_failing_statement_and_leaves_nothing() {
    let Some(database) =
        database("a_failing_script_names_its_failing_statement_and_leaves_nothing")
    else {
        return;
    };
    let fixture = Fixture::with_steps(1);
    on(&fixture, &database, &["db", "upgrade"]).expect_code(0);
    let before = snapshot(&database);
    fixture.migration(
        "2024-01-01-000002_broken",
        "CREATE TABLE made (id INTEGER);
         INSERT INTO made VALUES (1);
         INSERT INTO missing_table VALUES (1);
         CREATE TABLE never (id INTEGER);
",
        Some(
            "DROP TABLE made;
",
        ),
    );
    let run = on(&fixture, &database, &["db", "upgrade"]);
    run.expect_failure(
        1,
        &[
            "migration 2024-01-01-000002_broken (up) failed",
            "relation \"missing_table\" does not exist",
            "the migration was rolled back",
        ],
    );
    // The statement named is the failing one alone, not the whole script.
    let statement = run
        .stderr
        .split("statement:")
        .nth(1)
        .unwrap_or_else(|| panic!("no statement in: {}", run.stderr));
    assert!(
        statement.contains("INSERT INTO missing_table"),
        "{}",
        run.stderr
    );
    assert!(!statement.contains("CREATE TABLE made"), "{}", run.stderr);
    assert_eq!(snapshot(&database), before);
}

/// A failure at COMMIT (a deferred constraint) rolls the migration back, and the message says so.
#[test]
fn a_failure_at_commit_says_the_migration_was_rolled_back() {
    let Some(database) = database("a_failure_at_commit_says_the_migration_was_rolled_back") else {
        return;
    };
    let fixture = Fixture::with_steps(1);
    fixture.migration(
        "2024-01-01-000002_deferred",
        "CREATE TABLE d (n INTEGER, CONSTRAINT d_n_key UNIQUE (n) DEFERRABLE INITIALLY DEFERRED);\n\
         INSERT INTO d VALUES (1);\nINSERT INTO d VALUES (1);\n",
        Some("DROP TABLE d;\n"),
    );
    let run = on(&fixture, &database, &["db", "upgrade"]);
    run.expect_failure(
        1,
        &[
            "committing 2024-01-01-000002_deferred",
            "d_n_key",
            "the migration was rolled back; migrations before it in this run stay applied",
        ],
    );
    let (tables, applied, _) = snapshot(&database);
    assert!(!tables.contains(&"d".to_string()), "{tables:?}");
    assert_eq!(applied, 1);
}

/// The repository's history printed with `--sql --dialect postgres` and run by psql builds what
/// `db upgrade` builds: workhub then finds the database at head, the models matching.
#[test]
fn offline_sql_run_by_psql_leaves_a_database_at_head() {
    let test = "offline_sql_run_by_psql_leaves_a_database_at_head";
    let Some(database) = database(test) else {
        return;
    };
    let Some(psql) = common::tool(test, "psql") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sql = embedded(
        dir.path(),
        &database,
        &["db", "upgrade", "--sql", "--dialect", "postgres"],
    );
    sql.expect_code(0);
    let file = dir.path().join("upgrade.sql");
    std::fs::write(&file, &sql.stdout).unwrap();
    let ran = std::process::Command::new(psql)
        .args(["-X", "-q", "-d", &url(&database), "-f"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let upgrade = embedded(dir.path(), &database, &["db", "upgrade"]);
    assert!(
        upgrade.stdout.starts_with("Nothing to apply"),
        "{upgrade:?}"
    );
    embedded(dir.path(), &database, &["db", "check"]).expect_code(0);
}

/// On a terminal, a long migration's line counts up the seconds it has run.
#[test]
fn a_long_migration_counts_its_seconds_on_a_terminal() {
    let test = "a_long_migration_counts_its_seconds_on_a_terminal";
    let Some(database) = database(test) else {
        return;
    };
    let Some(script) = common::tool(test, "script") else {
        return;
    };
    let fixture = Fixture::with_steps(0);
    fixture.migration(
        "2024-01-01-000001_slow",
        "SELECT pg_sleep(2.3);\n",
        Some("SELECT 1;\n"),
    );
    // `script` runs it on a terminal of its own.
    let command = format!(
        "{} --database-url '{}' --migrations-dir '{}' db upgrade",
        env!("CARGO_BIN_EXE_workhub"),
        url(&database),
        fixture.migrations().display()
    );
    let output = std::process::Command::new(script)
        .args(["-qec", &command, "/dev/null"])
        .current_dir(fixture.dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run script");
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{shown}");
    for tick in [
        "applying 2024-01-01-000001_slow ... (1 s)",
        "applying 2024-01-01-000001_slow ... (2 s)",
    ] {
        assert!(shown.contains(tick), "{tick} in {shown:?}");
    }
    assert!(
        shown.contains("[1/1] applied 2024-01-01-000001_slow ("),
        "{shown:?}"
    );
}

/// The times printed are what the user waited, each migration's commit included: a commit that
/// takes 400 ms (a deferred trigger sleeping) shows in the migration's own line and in the total.
#[test]
fn the_printed_times_include_the_commit() {
    let Some(database) = database("the_printed_times_include_the_commit") else {
        return;
    };
    let fixture = Fixture::with_steps(0);
    fixture.migration(
        "2024-01-01-000001_slow_commit",
        "CREATE TABLE s (n INTEGER);\n\
         CREATE FUNCTION s_wait() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.4); RETURN NULL; END $$;\n\
         CREATE CONSTRAINT TRIGGER s_wait AFTER INSERT ON s DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION s_wait();\n\
         INSERT INTO s VALUES (1);\n",
        Some("DROP TABLE s;\nDROP FUNCTION s_wait();\n"),
    );
    let run = on(&fixture, &database, &["db", "upgrade"]);
    run.expect_code(0);
    let millis = |line: &str, after: &str| -> f64 {
        let rest = &line[line
            .find(after)
            .unwrap_or_else(|| panic!("{after} in {line}"))
            + after.len()..];
        let number: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let value: f64 = number
            .parse()
            .unwrap_or_else(|_| panic!("a number in {line}"));
        if rest[number.len()..].trim_start().starts_with("ms") {
            value
        } else {
            value * 1000.0
        }
    };
    let own = run
        .stdout
        .lines()
        .find(|line| line.contains("applied 2024-01-01-000001_slow_commit"))
        .unwrap_or_else(|| panic!("a line for the migration: {run:?}"));
    assert!(millis(own, "(") >= 400.0, "{own}");
    let total = run
        .stdout
        .lines()
        .find(|line| line.starts_with("Applied 1 migration"))
        .unwrap_or_else(|| panic!("the total: {run:?}"));
    assert!(millis(total, " in ") >= 400.0, "{total}");
}

/// Another session holding a lock a migration needs (the service's long transaction, say) is waited
/// for at most WORKHUB_LOCK_TIMEOUT; the migration is then rolled back, and says so.
#[test]
fn a_migration_waits_for_another_postgres_session_at_most_the_lock_timeout() {
    let Some(database) =
        database("a_migration_waits_for_another_postgres_session_at_most_the_lock_timeout")
    else {
        return;
    };
    let fixture = Fixture::with_steps(1);
    on(&fixture, &database, &["db", "upgrade"]).expect_code(0);
    fixture.migration(
        "2024-01-01-000002_touch",
        "INSERT INTO t01 (id) VALUES (1);\n",
        Some("DELETE FROM t01 WHERE id = 1;\n"),
    );
    let before = snapshot(&database);
    let mut other = PgConnection::establish(&url(&database)).unwrap();
    use diesel::connection::SimpleConnection;
    other
        .batch_execute(
            "SET application_name = 'long report'; BEGIN; LOCK TABLE t01 IN ACCESS EXCLUSIVE MODE;",
        )
        .unwrap();
    let other_pid = scalar_on(&mut other, "SELECT pg_backend_pid()");
    let started = std::time::Instant::now();
    let mut command = fixture.workhub();
    command
        .env("DATABASE_URL", url(&database))
        .env("WORKHUB_LOCK_TIMEOUT", "3")
        .args(["db", "upgrade"]);
    let run = common::output(&mut command);
    let blocker = format!("server pid {other_pid} (long report; idle in transaction since ");
    let terminate = format!("SELECT pg_terminate_backend({other_pid})");
    run.expect_failure(
        1,
        &[
            "2024-01-01-000002_touch (up) failed",
            "lock timeout",
            &format!("(it waited for {blocker}"),
            &terminate,
            "the migration was rolled back",
        ],
    );
    // While it waited, it said for whom.
    assert!(
        run.stderr.contains(&format!(
            "2024-01-01-000002_touch is waiting for a lock held by {blocker}"
        )),
        "{}",
        run.stderr
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    other.batch_execute("ROLLBACK").unwrap();
    assert_eq!(snapshot(&database), before);
}

/// A statement that is merely slow (it waits for no other session) runs to its end unremarked.
#[test]
fn a_slow_statement_that_waits_for_nobody_gets_no_notice() {
    let Some(database) = database("a_slow_statement_that_waits_for_nobody_gets_no_notice") else {
        return;
    };
    let fixture = Fixture::with_steps(1);
    fixture.migration(
        "2024-01-01-000002_slow",
        "SELECT pg_sleep(1.5);\n",
        Some("SELECT 1;\n"),
    );
    let mut command = fixture.workhub();
    command
        .env("DATABASE_URL", url(&database))
        .env("WORKHUB_LOCK_TIMEOUT", "1")
        .args(["db", "upgrade"]);
    let run = common::output(&mut command);
    run.expect_code(0);
    assert!(!run.stderr.contains("waiting"), "{}", run.stderr);
    assert!(
        run.stdout.contains("applied 2024-01-01-000002_slow"),
        "{}",
        run.stdout
    );
}

/// A CREATE INDEX CONCURRENTLY that times out waiting for another session's transaction leaves an
/// INVALID index behind; the error says so and how to drop it.
#[test]
fn a_timed_out_concurrent_index_build_says_to_drop_the_invalid_index() {
    let Some(database) =
        database("a_timed_out_concurrent_index_build_says_to_drop_the_invalid_index")
    else {
        return;
    };
    let fixture = Fixture::with_steps(1);
    on(&fixture, &database, &["db", "upgrade"]).expect_code(0);
    let folder = fixture.migration(
        "2024-01-01-000002_index",
        "CREATE INDEX CONCURRENTLY t01_id_idx ON t01 (id);\n",
        Some("DROP INDEX CONCURRENTLY t01_id_idx;\n"),
    );
    std::fs::write(folder.join("metadata.toml"), "run_in_transaction = false\n").unwrap();
    let mut other = PgConnection::establish(&url(&database)).unwrap();
    use diesel::connection::SimpleConnection;
    // An open transaction that wrote to the table: the build waits for it to end.
    other
        .batch_execute("BEGIN; INSERT INTO t01 (id) VALUES (1);")
        .unwrap();
    let mut command = fixture.workhub();
    command
        .env("DATABASE_URL", url(&database))
        .env("WORKHUB_LOCK_TIMEOUT", "0.5")
        .args(["db", "upgrade"]);
    let run = common::output(&mut command);
    run.expect_failure(
        1,
        &[
            "2024-01-01-000002_index (up) failed",
            "lock timeout",
            "INVALID index",
            "DROP INDEX CONCURRENTLY IF EXISTS",
        ],
    );
    other.batch_execute("ROLLBACK").unwrap();
    let invalid = scalar(
        &database,
        "SELECT COUNT(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE c.relname = 't01_id_idx' AND NOT i.indisvalid",
    );
    assert_eq!(invalid, 1, "the failed build left its INVALID index");
}
