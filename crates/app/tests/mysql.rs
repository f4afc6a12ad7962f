//! The workflow on a real MySQL or MariaDB server (the `mysql` feature): the repository's own history
//! up and down, eight migrators at once under `GET_LOCK`, a migrator killed (`kill -9`) halfway
//! through a migration (in a DDL statement's wake and inside a data statement) and the run after it,
//! a statement that fails halfway and the two ways past it (`--resume`, `repair`), stored programs
//! written with `DELIMITER`, the offline script (`--sql`) run by the mariadb client, the schema
//! read back (drift shown by `db check` and undone by what `db diff` prints, `db stamp` and `db
//! repair` verified, a database with tables and no history adopted), a `mariadb-dump` backup
//! restored into another database (after a clean run and after a failed one), and the refusals.
//! MySQL commits DDL as it runs, so these tests look at what took effect as well as at what the
//! history says. Each test creates and drops its own database;
//! with no server they print a visible skip notice (and fail under CI=true).
#![cfg(feature = "mysql")]

mod common;

use std::time::{Duration, Instant};

use common::{assert_each_applied_once, migrate_at_once, workhub_command, Fixture, Run};
use diesel::connection::SimpleConnection;
use diesel::sql_types::BigInt;
use diesel::{Connection, MysqlConnection, QueryableByName, RunQueryDsl};
use workhub_migrations::apply::TemporaryMysqlDatabase;
use workhub_migrations::testing::mysql_server;
use workhub_migrations::DatabaseUrl;

fn database(test: &str) -> Option<TemporaryMysqlDatabase> {
    let server = mysql_server(test)?;
    Some(TemporaryMysqlDatabase::create(&server, "test").expect("create a test database"))
}

fn url(database: &TemporaryMysqlDatabase) -> String {
    match database.url() {
        DatabaseUrl::Mysql(raw) => raw.clone(),
        _ => unreachable!("a MySQL server's database"),
    }
}

fn scalar(database: &TemporaryMysqlDatabase, sql: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Number {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = MysqlConnection::establish(&url(database)).expect("connect");
    let rows: Vec<Number> = diesel::sql_query(format!("SELECT CAST(({sql}) AS SIGNED) AS n"))
        .load(&mut conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows[0].n
}

/// Runs `sql` (statements separated by `;`) on `database`, as a hand-made change would.
fn execute(database: &TemporaryMysqlDatabase, sql: &str) {
    MysqlConnection::establish(&url(database))
        .expect("connect")
        .batch_execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn table_exists(database: &TemporaryMysqlDatabase, table: &str) -> bool {
    scalar(
        database,
        &format!(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND \
             TABLE_NAME = '{table}'"
        ),
    ) == 1
}

/// The tables of the database that are not workhub's or diesel's history.
fn user_tables(database: &TemporaryMysqlDatabase) -> i64 {
    scalar(
        database,
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND \
         TABLE_NAME NOT LIKE '\\_\\_%'",
    )
}

fn applied(database: &TemporaryMysqlDatabase) -> i64 {
    scalar(database, "SELECT COUNT(*) FROM __diesel_schema_migrations")
}

/// `workhub` with the binary's embedded migrations (the repository's own) on `database`.
fn embedded(dir: &std::path::Path, database: &TemporaryMysqlDatabase, args: &[&str]) -> Run {
    let mut command = workhub_command(dir);
    command.env("DATABASE_URL", url(database)).args(args);
    common::output(&mut command)
}

/// `workhub` on `fixture`'s migrations and `database`.
fn on(fixture: &Fixture, database: &TemporaryMysqlDatabase, args: &[&str]) -> Run {
    let mut command = fixture.workhub();
    command.env("DATABASE_URL", url(database)).args(args);
    common::output(&mut command)
}

/// Writes a migration folder for MySQL: `up.mysql.sql` (and `down.mysql.sql`), beside an `up.sql`
/// that MySQL never runs.
fn mysql_migration(fixture: &Fixture, folder: &str, up: &str, down: Option<&str>) {
    let path = fixture.migration(
        folder,
        "SELECT 'SQLite SQL: MySQL runs up.mysql.sql';\n",
        down.map(|_| "SELECT 1;\n"),
    );
    std::fs::write(path.join("up.mysql.sql"), up).unwrap();
    if let Some(down) = down {
        std::fs::write(path.join("down.mysql.sql"), down).unwrap();
    }
}

fn step_folder(n: usize) -> String {
    common::step_folder(n)
}

/// `count` reversible MySQL migrations, each creating table `tNN`.
fn mysql_steps(count: usize) -> Fixture {
    let fixture = Fixture::new();
    for n in 1..=count {
        mysql_migration(
            &fixture,
            &step_folder(n),
            &format!("CREATE TABLE t{n:02} (id BIGINT PRIMARY KEY);\n"),
            Some(&format!("DROP TABLE t{n:02};\n")),
        );
    }
    fixture
}

#[test]
fn the_repository_history_goes_up_and_down_on_mysql() {
    let Some(database) = database("the_repository_history_goes_up_and_down_on_mysql") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let up = embedded(dir.path(), &database, &["db", "upgrade"]);
    up.expect_code(0);
    assert!(up.stdout.contains("Applied 3 migrations"), "{}", up.stdout);
    for table in ["users", "projects", "sessions", "project_members", "tasks"] {
        assert!(table_exists(&database, table), "{table} exists");
    }
    assert!(table_exists(&database, "project_invitations"));
    assert_eq!(applied(&database), 3);
    assert_eq!(
        scalar(&database, "SELECT COUNT(*) FROM __workhub_migrations"),
        3
    );
    // Every migration finished: no run record is left.
    assert_eq!(
        scalar(&database, "SELECT COUNT(*) FROM __workhub_migrations_run"),
        0
    );
    let current = embedded(dir.path(), &database, &["db", "current"]);
    current.expect_code(0);
    assert!(current.stdout.contains("head"), "{}", current.stdout);
    assert!(!current.stdout.contains("UNFINISHED"), "{}", current.stdout);
    let check = embedded(dir.path(), &database, &["db", "check"]);
    check.expect_code(0);
    // The models are compared with what the history's MySQL SQL builds too.
    assert!(
        check.stdout.contains(
            "the models match the migrations, and its schema is what its applied migrations build"
        ),
        "{}",
        check.stdout
    );
    // Targets: one back, one forward, by prefix, then all the way down.
    embedded(dir.path(), &database, &["db", "downgrade", "-1"]).expect_code(0);
    assert!(!table_exists(&database, "project_invitations"));
    embedded(dir.path(), &database, &["db", "upgrade", "+1"]).expect_code(0);
    assert!(table_exists(&database, "project_invitations"));
    embedded(
        dir.path(),
        &database,
        &["db", "downgrade", "20261123225048"],
    )
    .expect_code(0);
    assert_eq!(applied(&database), 1);
    let history = embedded(dir.path(), &database, &["db", "history"]);
    history.expect_code(0);
    assert!(history.stdout.contains("[x]"), "{}", history.stdout);
    assert!(history.stdout.contains("[ ]"), "{}", history.stdout);
    embedded(dir.path(), &database, &["db", "downgrade", "base"]).expect_code(0);
    assert_eq!(user_tables(&database), 0);
    assert_eq!(applied(&database), 0);
    // Stamping a database with no tables of its own: there is no schema to compare.
    let stamped = embedded(dir.path(), &database, &["db", "stamp", "head"]);
    stamped.expect_code(0);
    assert!(stamped.stdout.contains("recorded"), "{}", stamped.stdout);
    assert_eq!(applied(&database), 3);
    assert_eq!(user_tables(&database), 0, "stamping runs no SQL");
    embedded(dir.path(), &database, &["db", "stamp", "base", "--force"]).expect_code(0);
    assert_eq!(applied(&database), 0);
}

#[test]
fn transaction_all_and_migrations_without_mysql_sql_are_refused() {
    let Some(database) = database("transaction_all_and_migrations_without_mysql_sql_are_refused")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    embedded(
        dir.path(),
        &database,
        &["db", "upgrade", "--transaction", "all"],
    )
    .expect_failure(
        2,
        &[
            "one transaction for the whole run is impossible",
            "implicitly",
        ],
    );
    assert_eq!(user_tables(&database), 0);
    let fixture = mysql_steps(1);
    fixture.migration(
        "2024-01-01-000002_sqlite_only",
        "CREATE TABLE t02 (id INTEGER PRIMARY KEY);\n",
        None,
    );
    on(&fixture, &database, &["db", "upgrade"]).expect_failure(
        1,
        &[
            "no up.mysql.sql",
            "2024-01-01-000002_sqlite_only",
            "nothing was run",
        ],
    );
    // Refused before anything ran, the first migration included; not even the history exists.
    assert_eq!(user_tables(&database), 0);
    assert!(!table_exists(&database, "__diesel_schema_migrations"));
    // A folder with down.mysql.sql and no up.mysql.sql is refused when it is read.
    let half = fixture.migrations().join("2024-01-01-000003_half");
    std::fs::create_dir_all(&half).unwrap();
    std::fs::write(half.join("up.sql"), "SELECT 1;\n").unwrap();
    std::fs::write(half.join("down.mysql.sql"), "SELECT 1;\n").unwrap();
    on(&fixture, &database, &["db", "current"])
        .expect_failure(1, &["2024-01-01-000003_half", "up.mysql.sql"]);
    std::fs::remove_dir_all(&half).unwrap();
    // --resume with nothing to resume, --sql, and a URL without a database.
    on(&fixture, &database, &["db", "upgrade", "+1", "--resume"])
        .expect_failure(1, &["nothing to resume"]);
    on(&fixture, &database, &["db", "upgrade", "--sql"])
        .expect_failure(1, &["no up.mysql.sql", "2024-01-01-000002_sqlite_only"]);
    let mut no_database = fixture.workhub();
    no_database
        .env("DATABASE_URL", "mysql://root@127.0.0.1:3306")
        .args(["db", "current"]);
    common::output(&mut no_database).expect_failure(2, &["names no database"]);
    let mut wrong_scheme = fixture.workhub();
    wrong_scheme
        .env("DATABASE_URL", "mariadb://root:secret@127.0.0.1/x")
        .args(["db", "current"]);
    let refused = common::output(&mut wrong_scheme);
    refused.expect_failure(2, &["mysql://"]);
    assert!(!refused.stderr.contains("secret"), "{}", refused.stderr);
    let mut unreachable = fixture.workhub();
    unreachable
        .env("DATABASE_URL", "mysql://root:secret@127.0.0.1:1/x")
        .args(["db", "current"]);
    let refused = common::output(&mut unreachable);
    refused.expect_code(3);
    assert!(!refused.stderr.contains("secret"), "{}", refused.stderr);
}

#[test]
fn eight_migrators_on_one_mysql_database_apply_each_migration_once() {
    let Some(database) =
        database("eight_migrators_on_one_mysql_database_apply_each_migration_once")
    else {
        return;
    };
    let fixture = mysql_steps(12);
    let runs = migrate_at_once(&fixture, &url(&database), 8);
    let expected: Vec<String> = (1..=12).map(step_folder).collect();
    assert_each_applied_once(&runs, &expected, "connection ");
    assert_eq!(applied(&database), 12);
    assert_eq!(
        scalar(&database, "SELECT COUNT(*) FROM __workhub_migrations"),
        12
    );
    assert_eq!(user_tables(&database), 12);
    // Every migrator released the lock: no one holds it now.
    assert!(!lock_held(&database));
}

/// Whether some connection holds the migration lock of `database`.
fn lock_held(database: &TemporaryMysqlDatabase) -> bool {
    scalar(
        database,
        "SELECT COUNT(*) FROM (SELECT IS_USED_LOCK(CONCAT('workhub_migrate:', DATABASE())) AS h) l \
         WHERE h IS NOT NULL",
    ) == 1
}

/// One migration, then one of three statements whose second fails (there is no table `missing`):
/// the fixture, that migration's folder and its script.
fn three_steps() -> (Fixture, &'static str, &'static str) {
    let fixture = mysql_steps(1);
    let folder = "2024-01-01-000002_three_steps";
    let broken = "CREATE TABLE a (id BIGINT PRIMARY KEY);\n\
                  INSERT INTO missing VALUES (1);\n\
                  CREATE TABLE c (id BIGINT PRIMARY KEY);\n";
    mysql_migration(
        &fixture,
        folder,
        broken,
        Some("DROP TABLE c;\nDROP TABLE a;\n"),
    );
    (fixture, folder, broken)
}

#[test]
fn a_statement_that_fails_halfway_is_recorded_and_resumed_after_the_fix() {
    let Some(database) =
        database("a_statement_that_fails_halfway_is_recorded_and_resumed_after_the_fix")
    else {
        return;
    };
    let (fixture, folder, broken) = three_steps();
    let failed = on(&fixture, &database, &["db", "upgrade"]);
    failed.expect_failure(
        1,
        &[
            folder,
            "statement 1 of its 3 statements took effect",
            "statement 2 failed",
            "INSERT INTO missing",
            "--resume",
            "db repair",
        ],
    );
    // What took effect stays (MySQL's DDL cannot roll back); the migration is not recorded.
    assert!(table_exists(&database, "a"));
    assert!(!table_exists(&database, "c"));
    assert_eq!(applied(&database), 1);
    // Every later command that would change the database refuses, naming it.
    on(&fixture, &database, &["db", "upgrade"]).expect_failure(
        1,
        &[folder, "statement 2 failed", "an earlier run stopped there"],
    );
    on(&fixture, &database, &["db", "stamp", "head", "--force"])
        .expect_failure(1, &[folder, "did not finish"]);
    let current = on(&fixture, &database, &["db", "current"]);
    current.expect_code(0);
    assert!(current.stdout.contains("UNFINISHED"), "{}", current.stdout);
    on(&fixture, &database, &["db", "check"]).expect_failure(1, &["--resume"]);
    // Editing a statement that took effect makes a resume refuse; the failed one may change.
    let path = fixture.migrations().join(folder).join("up.mysql.sql");
    std::fs::write(&path, broken.replace("TABLE a", "TABLE aa")).unwrap();
    on(&fixture, &database, &["db", "upgrade", "--resume"])
        .expect_failure(1, &["cannot resume", "changed since"]);
    std::fs::write(
        &path,
        broken.replace("INSERT INTO missing VALUES (1)", "DO 0"),
    )
    .unwrap();
    let resumed = on(&fixture, &database, &["db", "upgrade", "--resume"]);
    resumed.expect_code(0);
    assert!(table_exists(&database, "c"));
    assert_eq!(applied(&database), 2);
    assert_eq!(
        scalar(&database, "SELECT COUNT(*) FROM __workhub_migrations_run"),
        0
    );
    // The history records the checksum of the script as it now is.
    on(&fixture, &database, &["db", "check"]).expect_code(0);
    on(&fixture, &database, &["db", "downgrade", "base"]).expect_code(0);
    assert_eq!(user_tables(&database), 0);
}

#[test]
fn repair_forgets_an_unfinished_migration_the_user_undid_by_hand() {
    let Some(database) = database("repair_forgets_an_unfinished_migration_the_user_undid_by_hand")
    else {
        return;
    };
    let fixture = Fixture::new();
    let folder = "2024-01-01-000001_two_steps";
    mysql_migration(
        &fixture,
        folder,
        "CREATE TABLE a (id BIGINT PRIMARY KEY);\nCREATE TABLE a (id BIGINT PRIMARY KEY);\n",
        None,
    );
    on(&fixture, &database, &["db", "upgrade"])
        .expect_failure(1, &[folder, "statement 2 failed", "already exists"]);
    assert!(table_exists(&database, "a"));
    // The user undoes statement 1 by hand and fixes the script; repair forgets the run.
    let mut conn = MysqlConnection::establish(&url(&database)).unwrap();
    diesel::sql_query("DROP TABLE a")
        .execute(&mut conn)
        .unwrap();
    std::fs::write(
        fixture.migrations().join(folder).join("up.mysql.sql"),
        "CREATE TABLE a (id BIGINT PRIMARY KEY);\nCREATE TABLE b (id BIGINT PRIMARY KEY);\n",
    )
    .unwrap();
    let repaired = on(&fixture, &database, &["db", "repair"]);
    repaired.expect_code(0);
    assert!(
        repaired.stdout.contains("forgot the unfinished up run"),
        "{}",
        repaired.stdout
    );
    on(&fixture, &database, &["db", "upgrade"]).expect_code(0);
    assert!(table_exists(&database, "a") && table_exists(&database, "b"));
    assert_eq!(applied(&database), 1);
}

#[test]
fn a_migrator_killed_halfway_leaves_a_record_the_next_run_refuses_and_resumes() {
    let Some(database) =
        database("a_migrator_killed_halfway_leaves_a_record_the_next_run_refuses_and_resumes")
    else {
        return;
    };
    let fixture = Fixture::new();
    let folder = "2024-01-01-000001_slow";
    mysql_migration(
        &fixture,
        folder,
        "CREATE TABLE a (id BIGINT PRIMARY KEY);\nDO SLEEP(2);\nCREATE TABLE b (id BIGINT PRIMARY KEY);\n",
        Some("DROP TABLE b;\nDROP TABLE a;\n"),
    );
    // Killed once its first statement has taken effect, while the second runs.
    kill_when(&fixture, &database, &["db", "upgrade"], || {
        table_exists(&database, "a")
    });
    assert!(!table_exists(&database, "b"));
    let refused = on(&fixture, &database, &["db", "upgrade"]);
    refused.expect_failure(
        1,
        &[
            folder,
            "did not finish",
            "took effect",
            "--resume",
            "db repair",
        ],
    );
    assert!(
        refused
            .stderr
            .contains("the process or its connection died"),
        "{}",
        refused.stderr
    );
    assert_eq!(applied(&database), 0);
    let resumed = on(&fixture, &database, &["db", "upgrade", "--resume"]);
    resumed.expect_code(0);
    assert!(table_exists(&database, "a") && table_exists(&database, "b"));
    assert_eq!(applied(&database), 1);
    on(&fixture, &database, &["db", "downgrade", "base"]).expect_code(0);
    assert_eq!(user_tables(&database), 0);
}

#[test]
fn a_waiter_names_the_connection_holding_the_lock_and_gives_up_at_the_timeout() {
    let Some(database) =
        database("a_waiter_names_the_connection_holding_the_lock_and_gives_up_at_the_timeout")
    else {
        return;
    };
    let fixture = mysql_steps(1);
    let holder = hold_the_lock(&database);
    let refused = with_a_short_wait(&fixture, &database, &["db", "upgrade"]);
    refused.expect_failure(
        1,
        &["gave up after", "held by connection", "nothing was run"],
    );
    assert!(!table_exists(&database, "t01"));
    // Released (here by closing the connection, as when a migrator dies), the next run proceeds.
    drop(holder);
    on(&fixture, &database, &["db", "upgrade"]).expect_code(0);
    assert!(table_exists(&database, "t01"));
}

/// Asserts that the client stopped at an error saying `needle`.
fn stopped_at(run: &Run, needle: &str) {
    assert_ne!(run.code, Some(0), "{run:?}");
    assert!(run.stderr.contains(needle), "{needle}:\n{}", run.stderr);
}

/// A connection holding `database`'s migration lock until it is dropped.
fn hold_the_lock(database: &TemporaryMysqlDatabase) -> MysqlConnection {
    let mut holder = MysqlConnection::establish(&url(database)).unwrap();
    diesel::sql_query("DO GET_LOCK(CONCAT('workhub_migrate:', DATABASE()), 0)")
        .execute(&mut holder)
        .unwrap();
    holder
}

/// `workhub` with `args` on `fixture` and `database`, waiting at most a second for the lock.
fn with_a_short_wait(fixture: &Fixture, database: &TemporaryMysqlDatabase, args: &[&str]) -> Run {
    let mut command = fixture.workhub();
    command
        .env("DATABASE_URL", url(database))
        .env("WORKHUB_LOCK_TIMEOUT", "1")
        .args(args);
    common::output(&mut command)
}

/// Asserts that `run` succeeded and printed `needle`.
fn prints(run: &Run, needle: &str) {
    run.expect_code(0);
    assert!(run.stdout.contains(needle), "{needle}:\n{}", run.stdout);
}

/// The repository's newest migration, the head the embedded history reaches.
const HEAD: &str = "20261201143036";

/// The lines of `text` that report drift.
fn drift_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|line| {
            line.starts_with("the database differs from what its applied migrations build")
        })
        .collect()
}

#[test]
fn check_shows_hand_made_drift_and_the_sql_diff_prints_brings_it_back() {
    let Some(database) =
        database("check_shows_hand_made_drift_and_the_sql_diff_prints_brings_it_back")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    embedded(dir.path(), &database, &["db", "upgrade"]).expect_code(0);
    execute(
        &database,
        "ALTER TABLE `tasks` ADD COLUMN `notes` TEXT NULL;\
         ALTER TABLE `users` MODIFY COLUMN `display_name` VARCHAR(50) NOT NULL;\
         DROP INDEX `project_invitations_email_idx` ON `project_invitations`;\
         ALTER TABLE `tasks` DROP CONSTRAINT `tasks_status_valid`;",
    );
    let check = embedded(dir.path(), &database, &["db", "check"]);
    check.expect_failure(1, &["check failed: 4 problems", "db diff 20261201143036"]);
    let lines = drift_lines(&check.stdout);
    assert_eq!(lines.len(), 4, "one line per difference: {}", check.stdout);
    for (object, line) in [
        (
            "tasks.notes",
            "column tasks.notes: the migrations build none; the database has TEXT",
        ),
        (
            "users.display_name",
            "column users.display_name: the migrations build VARCHAR(100)",
        ),
        (
            "project_invitations_email_idx",
            "index project_invitations_email_idx on project_invitations: the migrations build \
             (email); the database has none",
        ),
        ("tasks_status_valid", "check tasks_status_valid on tasks"),
    ] {
        assert!(
            lines.iter().any(|l| l.contains(line)),
            "{object}: {line} in {lines:#?}"
        );
    }

    let diff = embedded(dir.path(), &database, &["db", "diff", HEAD]);
    prints(&diff, "ALTER TABLE `tasks`");
    assert!(
        !diff.stdout.contains("BEGIN;"),
        "MySQL commits each DDL statement: {}",
        diff.stdout
    );
    assert!(!diff.stdout.contains('"'), "backquoted: {}", diff.stdout);
    assert!(diff.stderr.contains("nothing was run"), "{}", diff.stderr);
    // Printed, not run.
    embedded(dir.path(), &database, &["db", "check"]).expect_code(1);
    execute(&database, &diff.stdout);
    let check = embedded(dir.path(), &database, &["db", "check"]);
    prints(&check, "its schema is what its applied migrations build");
    let again = embedded(dir.path(), &database, &["db", "diff", HEAD]);
    prints(&again, "there is nothing to run");
}

#[test]
fn a_database_with_tables_and_no_history_is_adopted_by_the_stamp_it_names() {
    let Some(database) =
        database("a_database_with_tables_and_no_history_is_adopted_by_the_stamp_it_names")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    embedded(dir.path(), &database, &["db", "upgrade"]).expect_code(0);
    // The tables as another deploy left them, with no history.
    execute(
        &database,
        "DROP TABLE __diesel_schema_migrations; DROP TABLE __workhub_migrations; \
         DROP TABLE __workhub_migrations_run;",
    );
    let check = embedded(dir.path(), &database, &["db", "check"]);
    check.expect_failure(
        1,
        &[&format!(
            "`workhub db stamp {HEAD}` records them as applied without running SQL"
        )],
    );
    assert!(
        check
            .stdout
            .contains("has tables (project_invitations, project_members, projects, sessions, tasks, users) but records no migration as applied"),
        "{}",
        check.stdout
    );
    let current = embedded(dir.path(), &database, &["db", "current"]);
    prints(&current, &format!("db stamp {HEAD}"));
    // Upgrading would create what is there already: it fails on the first table (MySQL keeps a
    // record of the run, none of whose statements took effect), and says to forget that and stamp.
    let upgrade = embedded(dir.path(), &database, &["db", "upgrade"]);
    upgrade.expect_failure(
        1,
        &[
            "Table 'users' already exists",
            "`workhub db repair` forgets the unfinished run of 2026-11-23-225048_initial first",
            &format!("db stamp {HEAD}"),
        ],
    );
    let refused = embedded(dir.path(), &database, &["db", "stamp", HEAD]);
    refused.expect_failure(1, &["did not finish", "db repair"]);
    embedded(dir.path(), &database, &["db", "repair"]).expect_code(0);

    // A revision whose schema is not the database's is refused, naming the one that is.
    let wrong = embedded(dir.path(), &database, &["db", "stamp", "20261123225048"]);
    wrong.expect_failure(
        1,
        &[
            "the database's schema differs from what 20261123225048 builds",
            "project_invitations",
            "nothing was recorded",
            &format!("db stamp {HEAD}"),
        ],
    );
    assert!(!table_exists(&database, "__diesel_schema_migrations") || applied(&database) == 0);

    let stamped = embedded(dir.path(), &database, &["db", "stamp", HEAD]);
    prints(&stamped, "Stamped");
    assert_eq!(applied(&database), 3);
    embedded(dir.path(), &database, &["db", "check"]).expect_code(0);
    let nothing = embedded(dir.path(), &database, &["db", "upgrade"]);
    prints(&nothing, "Nothing to apply");
}

#[test]
fn repair_records_an_edited_migrations_checksum_only_while_the_schema_matches() {
    let Some(database) =
        database("repair_records_an_edited_migrations_checksum_only_while_the_schema_matches")
    else {
        return;
    };
    let fixture = Fixture::new();
    let folder = step_folder(1);
    let create = "CREATE TABLE `t01` (`id` BIGINT NOT NULL AUTO_INCREMENT, PRIMARY KEY (`id`));\n";
    mysql_migration(&fixture, &folder, create, None);
    on(&fixture, &database, &["db", "upgrade"]).expect_code(0);
    let script = fixture.migrations().join(&folder).join("up.mysql.sql");

    // An edit that changes no schema: the checksum is recorded.
    std::fs::write(&script, format!("-- a comment added later\n{create}")).unwrap();
    let repaired = on(&fixture, &database, &["db", "repair"]);
    prints(&repaired, &folder);
    on(&fixture, &database, &["db", "check"]).expect_code(0);

    // An edit that changes the schema: refused, naming the difference; nothing recorded.
    std::fs::write(
        &script,
        "CREATE TABLE `t01` (`id` BIGINT NOT NULL AUTO_INCREMENT, `name` TEXT NULL, PRIMARY KEY (`id`));\n",
    )
    .unwrap();
    let refused = on(&fixture, &database, &["db", "repair"]);
    refused.expect_failure(
        1,
        &[
            "cannot record checksums for 1 migration edited since applied",
            // A hand-written script's text has the server's collation, said with its type.
            "column t01.name: the migrations build TEXT COLLATE",
            "; the database has none",
            "nothing was recorded",
            "db repair --force",
        ],
    );
    let check = on(&fixture, &database, &["db", "check"]);
    check.expect_failure(1, &["check failed: 2 problems", "db repair"]);
    assert!(check.stdout.contains("column t01.name"), "{}", check.stdout);
    on(&fixture, &database, &["db", "repair", "--force"]).expect_code(0);
}

#[test]
fn schema_commands_refuse_bad_input_by_name() {
    let Some(database) = database("schema_commands_refuse_bad_input_by_name") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    embedded(dir.path(), &database, &["db", "upgrade"]).expect_code(0);
    embedded(dir.path(), &database, &["db", "diff", "+1"])
        .expect_failure(2, &["counts from where the database stands"]);
    embedded(dir.path(), &database, &["db", "diff", "29990101000000"])
        .expect_failure(2, &["29990101000000"]);
    embedded(dir.path(), &database, &["db", "stamp", "29990101000000"])
        .expect_failure(2, &["29990101000000"]);
    assert_eq!(applied(&database), 3, "nothing was recorded");

    // A URL that names no database, and one whose database does not exist.
    let server = url(&database);
    let bare = &server[..server.rfind('/').unwrap()];
    let mut command = workhub_command(dir.path());
    command.env("DATABASE_URL", bare).args(["db", "check"]);
    common::output(&mut command).expect_failure(2, &["names no database"]);
    let missing = format!("{bare}/workhub_no_such_database");
    let mut command = workhub_command(dir.path());
    command
        .env("DATABASE_URL", &missing)
        .args(["db", "diff", HEAD]);
    common::output(&mut command).expect_failure(3, &["workhub_no_such_database"]);
}

/// Starts `workhub` with `args` on `fixture` and kills it (SIGKILL) once `ready` holds.
fn kill_when(
    fixture: &Fixture,
    database: &TemporaryMysqlDatabase,
    args: &[&str],
    ready: impl Fn() -> bool,
) {
    let mut child = common::std_command(
        std::path::Path::new(env!("CARGO_BIN_EXE_workhub")),
        fixture.dir.path(),
    )
    .env("DATABASE_URL", url(database))
    .env("WORKHUB_MIGRATIONS_DIR", fixture.migrations())
    .args(args)
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .expect("start workhub");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "the migration never got there");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill -9 workhub");
    child.wait().unwrap();
}

/// Waits until the server has closed a killed migrator's connection: the lock is free.
fn closed(database: &TemporaryMysqlDatabase) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while lock_held(database) {
        assert!(
            Instant::now() < deadline,
            "the killed connection never closed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn recorded_done(database: &TemporaryMysqlDatabase) -> i64 {
    scalar(database, "SELECT done FROM __workhub_migrations_run")
}

/// How many other connections to `database` are running a statement whose text contains `text`
/// (only this database's: tests running beside it send statements of the same text to theirs).
fn running(database: &TemporaryMysqlDatabase, text: &str) -> i64 {
    scalar(
        database,
        &format!(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() \
             AND DB = DATABASE() AND COMMAND = 'Query' AND INFO LIKE '%{text}%'"
        ),
    )
}

#[test]
fn a_data_statement_and_its_record_take_effect_together_even_under_kill() {
    let Some(database) =
        database("a_data_statement_and_its_record_take_effect_together_even_under_kill")
    else {
        return;
    };
    let fixture = Fixture::new();
    let folder = "2024-01-01-000001_rows";
    // A data statement in the middle (its record shares its transaction), a failing one, and a
    // slow one last (left open for the history rows, which commit it).
    let script = "CREATE TABLE a (id BIGINT PRIMARY KEY);\n\
                  INSERT INTO a VALUES (1);\n\
                  INSERT INTO a VALUES (2), (1);\n\
                  INSERT INTO a SELECT 3 FROM (SELECT SLEEP(2)) s;\n";
    mysql_migration(&fixture, folder, script, Some("DROP TABLE a;\n"));
    on(&fixture, &database, &["db", "upgrade"]).expect_failure(
        1,
        &[
            folder,
            "statements 1-2 of its 4 statements took effect",
            "statement 3 failed",
            "Duplicate",
        ],
    );
    // The failed statement left nothing (not even its first row); the record says 2, exactly.
    assert_eq!(scalar(&database, "SELECT COUNT(*) FROM a"), 1);
    assert_eq!(recorded_done(&database), 2);
    let path = fixture.migrations().join(folder).join("up.mysql.sql");
    std::fs::write(&path, script.replace("(2), (1)", "(2)")).unwrap();
    // Killed inside the last statement, a data statement: it rolls back with the server's
    // transaction, and the record still says what took effect.
    let slow = "INSERT INTO a SELECT 3";
    kill_when(&fixture, &database, &["db", "upgrade", "--resume"], || {
        running(&database, slow) == 1
    });
    // The server rolls the statement back once it notices the connection closed.
    let deadline = Instant::now() + Duration::from_secs(30);
    while running(&database, slow) > 0 {
        assert!(
            Instant::now() < deadline,
            "the killed statement never ended"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(scalar(&database, "SELECT COUNT(*) FROM a WHERE id = 3"), 0);
    assert_eq!(recorded_done(&database), 3);
    let refused = on(&fixture, &database, &["db", "upgrade"]);
    refused.expect_failure(
        1,
        &[folder, "statements 1-3 of its 4 statements took effect"],
    );
    on(&fixture, &database, &["db", "upgrade", "--resume"]).expect_code(0);
    assert_eq!(scalar(&database, "SELECT COUNT(*) FROM a"), 3);
    assert_eq!(applied(&database), 1);
    assert_eq!(
        scalar(&database, "SELECT COUNT(*) FROM __workhub_migrations_run"),
        0
    );
    on(&fixture, &database, &["db", "check"]).expect_code(0);
}

#[test]
fn a_migration_that_opens_its_own_transaction_keeps_it() {
    let Some(database) = database("a_migration_that_opens_its_own_transaction_keeps_it") else {
        return;
    };
    let fixture = Fixture::new();
    mysql_migration(
        &fixture,
        "2024-01-01-000001_table",
        "CREATE TABLE a (id BIGINT PRIMARY KEY);\n",
        None,
    );
    // The script's transaction is its own: workhub opens and commits none inside it, so the
    // script's ROLLBACK undoes both INSERTs before it.
    let folder = "2024-01-01-000002_own_transaction";
    mysql_migration(
        &fixture,
        folder,
        "START TRANSACTION;\nINSERT INTO a VALUES (1);\nINSERT INTO a VALUES (2);\nROLLBACK;\nINSERT INTO a VALUES (3);\n",
        None,
    );
    on(&fixture, &database, &["db", "upgrade"]).expect_code(0);
    assert_eq!(scalar(&database, "SELECT COUNT(*) FROM a"), 1);
    assert_eq!(scalar(&database, "SELECT MAX(id) FROM a"), 3);
    assert_eq!(applied(&database), 2);
}

/// A migration that turns autocommit off and leaves its transaction open does not carry that into
/// workhub's writes or the next migration: its history rows commit what it left open, and the
/// record of every statement that took effect is committed with it, so a run killed (`kill -9`)
/// after such a migration, or after a DDL statement in one, leaves a record that says exactly what
/// took effect, and the resume goes on from there.
#[test]
fn autocommit_off_in_a_migration_does_not_hold_back_the_records_after_it() {
    let Some(database) =
        database("autocommit_off_in_a_migration_does_not_hold_back_the_records_after_it")
    else {
        return;
    };
    let fixture = Fixture::new();
    mysql_migration(
        &fixture,
        "2024-01-01-000001_autocommit_off",
        "SET autocommit = 0;\nCREATE TABLE a (id BIGINT PRIMARY KEY);\nINSERT INTO a VALUES (1);\n",
        None,
    );
    let folder = "2024-01-01-000002_slow";
    mysql_migration(
        &fixture,
        folder,
        "CREATE TABLE b (id BIGINT PRIMARY KEY);\nDO SLEEP(2);\nSET autocommit = 0;\n\
         CREATE TABLE c (id BIGINT PRIMARY KEY);\nDO SLEEP(2);\nCREATE TABLE d (id BIGINT PRIMARY KEY);\n",
        None,
    );
    // Killed while the next migration's second statement runs: its first took effect, and its
    // record says so once the server has closed the connection (the sleep may finish first,
    // and its record with it).
    kill_when(&fixture, &database, &["db", "upgrade"], || {
        table_exists(&database, "b")
    });
    closed(&database);
    assert_eq!(
        applied(&database),
        1,
        "the first migration is in the history"
    );
    assert_eq!(scalar(&database, "SELECT COUNT(*) FROM a"), 1);
    let done = recorded_done(&database);
    assert!(matches!(done, 1 | 2), "recorded {done}");
    on(&fixture, &database, &["db", "upgrade"])
        .expect_failure(1, &[folder, "of its 6 statements took effect"]);
    // Killed after a DDL statement with autocommit off (the migration's own): recorded too.
    kill_when(&fixture, &database, &["db", "upgrade", "--resume"], || {
        table_exists(&database, "c")
    });
    closed(&database);
    let done = recorded_done(&database);
    assert!(matches!(done, 4 | 5), "recorded {done}");
    on(&fixture, &database, &["db", "upgrade", "--resume"]).expect_code(0);
    assert!(table_exists(&database, "d"));
    assert_eq!(applied(&database), 2);

    // A DDL statement failing with autocommit off: its failure is recorded as it is elsewhere.
    let failing = "2024-01-01-000003_fails";
    mysql_migration(
        &fixture,
        failing,
        "SET autocommit = 0;\nCREATE TABLE e (id BIGINT PRIMARY KEY);\nCREATE TABLE e (id BIGINT PRIMARY KEY);\n",
        None,
    );
    on(&fixture, &database, &["db", "upgrade"]).expect_failure(1, &[failing, "already exists"]);
    on(&fixture, &database, &["db", "upgrade"]).expect_failure(
        1,
        &[
            failing,
            "statements 1-2 of its 3 statements took effect",
            "statement 3 failed",
            "already exists",
        ],
    );
}

#[test]
fn stored_programs_written_with_delimiter_are_created_and_called() {
    let Some(database) = database("stored_programs_written_with_delimiter_are_created_and_called")
    else {
        return;
    };
    let fixture = Fixture::new();
    let folder = "2024-01-01-000001_counters";
    mysql_migration(
        &fixture,
        folder,
        "CREATE TABLE counters (id BIGINT PRIMARY KEY, n BIGINT NOT NULL);\n\
         DELIMITER //\n\
         CREATE PROCEDURE bump(IN which BIGINT)\n\
         BEGIN\n\
         \x20 IF NOT EXISTS (SELECT 1 FROM counters WHERE id = which) THEN\n\
         \x20   INSERT INTO counters VALUES (which, 0);\n\
         \x20 END IF;\n\
         \x20 UPDATE counters SET n = n + 1 WHERE id = which; -- a ; in a comment\n\
         END//\n\
         CREATE FUNCTION doubled(x BIGINT) RETURNS BIGINT DETERMINISTIC\n\
         BEGIN\n\
         \x20 DECLARE result BIGINT DEFAULT 0;\n\
         \x20 SET result = x * 2;\n\
         \x20 RETURN result;\n\
         END //\n\
         DELIMITER ;\n\
         CALL bump(7);\n",
        Some("DROP FUNCTION doubled;\nDROP PROCEDURE bump;\nDROP TABLE counters;\n"),
    );
    on(&fixture, &database, &["db", "upgrade"]).expect_code(0);
    // The migration's own CALL ran the procedure; both are there to call.
    assert_eq!(scalar(&database, "SELECT n FROM counters WHERE id = 7"), 1);
    execute(&database, "CALL bump(7)");
    assert_eq!(scalar(&database, "SELECT n FROM counters WHERE id = 7"), 2);
    assert_eq!(scalar(&database, "SELECT doubled(21)"), 42);

    // Without DELIMITER the body's inner `;` would cut it: refused by name before anything runs.
    let cut = "2024-01-01-000002_no_delimiter";
    mysql_migration(
        &fixture,
        cut,
        "CREATE TABLE later (id BIGINT PRIMARY KEY);\n\
         CREATE TRIGGER later_one BEFORE INSERT ON later FOR EACH ROW\nBEGIN\n  SET NEW.id = NEW.id + 1;\nEND;\n",
        Some("DROP TABLE later;\n"),
    );
    on(&fixture, &database, &["db", "upgrade"]).expect_failure(
        1,
        &[
            &format!("{cut}/up.mysql.sql cannot be split"),
            "line 2",
            "compound body",
            "DELIMITER //",
            "nothing was run",
        ],
    );
    assert!(!table_exists(&database, "later"));
    assert_eq!(applied(&database), 1);
    std::fs::write(
        fixture.migrations().join(cut).join("up.mysql.sql"),
        "CREATE TABLE later (id BIGINT PRIMARY KEY);\n\
         DELIMITER ;;\n\
         CREATE TRIGGER later_one BEFORE INSERT ON later FOR EACH ROW\nBEGIN\n  SET NEW.id = NEW.id + 1;\nEND ;;\n\
         DELIMITER ;\n",
    )
    .unwrap();
    on(&fixture, &database, &["db", "upgrade"]).expect_code(0);
    execute(&database, "INSERT INTO later VALUES (1)");
    assert_eq!(scalar(&database, "SELECT id FROM later"), 2);
    on(&fixture, &database, &["db", "downgrade", "base"]).expect_code(0);
    assert_eq!(
        scalar(
            &database,
            "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()"
        ),
        0
    );
}

/// A database whose timestamps keep whole seconds (a bare `DATETIME`), whose text compares under
/// another collation or whose `project_members.role` is a `VARCHAR(20)` is not what the history
/// builds: `db check` says so, column by column (as for a database the repository's first MySQL
/// scripts built, before they declared `DATETIME(6)`, `utf8mb4_bin` and a `TEXT` role; `db stamp`
/// and `db repair` compare the same way), and `db diff` brings it back.
#[test]
fn timestamp_precision_and_text_collation_are_compared() {
    let Some(database) = database("timestamp_precision_and_text_collation_are_compared") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    embedded(dir.path(), &database, &["db", "upgrade"]).expect_code(0);
    execute(
        &database,
        "ALTER TABLE `users` MODIFY COLUMN `created_at` DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP;\
         ALTER TABLE `users` MODIFY COLUMN `email` VARCHAR(320) COLLATE utf8mb4_general_ci NOT NULL;\
         ALTER TABLE `project_members` MODIFY COLUMN `role` VARCHAR(20) NOT NULL DEFAULT 'member';",
    );
    let check = embedded(dir.path(), &database, &["db", "check"]);
    check.expect_failure(1, &["check failed: 3 problems"]);
    let lines = drift_lines(&check.stdout);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("column users.created_at")
                && l.contains("the database has DATETIME")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("column users.email") && l.contains("utf8mb4_general_ci")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains(
            "column project_members.role: the migrations build TEXT NOT NULL DEFAULT 'member'; \
             the database has VARCHAR(20)"
        )),
        "{lines:#?}"
    );
    // What db diff prints brings the columns back.
    run_what_diff_prints(dir.path(), &database);
}

/// Runs what `db diff` prints for the head on `database`, and asserts that `db check` finds it
/// what its migrations build after that.
fn run_what_diff_prints(dir: &std::path::Path, database: &TemporaryMysqlDatabase) {
    let diff = embedded(dir, database, &["db", "diff", HEAD]);
    diff.expect_code(0);
    execute(database, &diff.stdout);
    let check = embedded(dir, database, &["db", "check"]);
    prints(&check, "its schema is what its applied migrations build");
}

/// The marker of a line saying what the history's MySQL SQL builds is not the models.
const NOT_THE_MODELS: &str = "on MySQL the migrations do not build the models; they would need: ";

/// `db check` compares the models with what the history's MySQL SQL builds, not only with its SQLite
/// replay: an `up.mysql.sql` that leaves out a column the models have is named, before the history
/// is applied (a replay of its own) and after (the live comparison's replay, reused).
#[test]
fn check_compares_the_models_with_what_the_mysql_sql_builds() {
    let Some(database) = database("check_compares_the_models_with_what_the_mysql_sql_builds")
    else {
        return;
    };
    let fixture = Fixture::with_own_history();
    let script = fixture
        .migrations()
        .join("2026-12-01-143036_project_invitations")
        .join("up.mysql.sql");
    let sql = std::fs::read_to_string(&script).unwrap();
    let stale = sql.replace("    `declined_at` DATETIME(6) NULL,\n", "");
    assert_ne!(stale, sql, "the script declares declined_at");
    std::fs::write(&script, stale).unwrap();
    let named = |run: &Run| {
        let lines: Vec<&str> = run
            .stdout
            .lines()
            .filter(|line| line.contains(NOT_THE_MODELS))
            .collect();
        assert_eq!(lines.len(), 1, "one line per difference: {}", run.all());
        assert!(
            lines[0].contains("added column project_invitations.declined_at"),
            "{lines:#?}"
        );
    };
    let pending = on(&fixture, &database, &["db", "check"]);
    pending.expect_code(1);
    named(&pending);
    on(&fixture, &database, &["db", "upgrade"]).expect_code(0);
    let check = on(&fixture, &database, &["db", "check"]);
    check.expect_failure(1, &["check failed: 1 problem", "db create NAME"]);
    named(&check);
    assert!(
        drift_lines(&check.stdout).is_empty(),
        "the database is what its migrations build: {}",
        check.stdout
    );
}

/// An index or a unique constraint over a prefix of a column (`email(10)`) is not the one over
/// the whole column the migrations build: `db check` names both, and what `db diff` prints puts
/// the whole-column ones back.
#[test]
fn a_key_over_a_column_prefix_is_not_the_whole_columns() {
    let Some(database) = database("a_key_over_a_column_prefix_is_not_the_whole_columns") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    embedded(dir.path(), &database, &["db", "upgrade"]).expect_code(0);
    execute(
        &database,
        "DROP INDEX `project_invitations_email_idx` ON `project_invitations`;\
         CREATE INDEX `project_invitations_email_idx` ON `project_invitations` (`email`(10));\
         ALTER TABLE `users` DROP INDEX `users_email_key`;\
         ALTER TABLE `users` ADD CONSTRAINT `users_email_key` UNIQUE (`email`(20));",
    );
    let check = embedded(dir.path(), &database, &["db", "check"]);
    check.expect_code(1);
    let lines = drift_lines(&check.stdout);
    assert!(
        lines.iter().any(|l| l.ends_with(
            "index project_invitations_email_idx on project_invitations: the migrations build \
             (email); the database has (email(10))"
        )),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("unique constraint on users (email(20))")),
        "{lines:#?}"
    );
    run_what_diff_prints(dir.path(), &database);
}

/// The MariaDB/MySQL client tool named first of `names` that is installed, with the options that
/// reach `database`'s server (from its URL: user, password, host, port), or `None` after a visible
/// skip notice (a failure under CI=true, whose `.ci/run` installs them).
fn client_tool(
    test: &str,
    names: &[&str],
    database: &TemporaryMysqlDatabase,
) -> Option<std::process::Command> {
    let Some(program) = names.iter().find(|name| {
        std::process::Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success())
    }) else {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true" || v == "1"),
            "{test}: none of {names:?} is installed, and CI=true requires them"
        );
        workhub_migrations::testing::skipped(&format!(
            "SKIPPED {test}: none of {names:?} is installed (apt-get install mariadb-client)"
        ));
        return None;
    };
    // mysql://user[:password]@host[:port]/name
    let raw = url(database);
    let rest = raw.trim_start_matches("mysql://");
    let (authority, name) = rest.split_once('/').expect("a database in the URL");
    let name = name.split('?').next().unwrap_or(name);
    let (userinfo, host) = authority.rsplit_once('@').unwrap_or(("root", authority));
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let (host, port) = host.split_once(':').unwrap_or((host, "3306"));
    let mut command = std::process::Command::new(program);
    command.args(["--protocol=TCP", "-h", host, "-P", port, "-u", user]);
    if !password.is_empty() {
        command.arg(format!("-p{password}"));
    }
    command.arg(name);
    Some(command)
}

/// `mariadb-dump` of `from` loaded into `into` with the `mariadb` client, as an operator backs up a
/// database and restores it elsewhere; `None` (after a skip notice) without the tools.
fn dump_and_restore(
    test: &str,
    from: &TemporaryMysqlDatabase,
    into: &TemporaryMysqlDatabase,
) -> Option<()> {
    let mut dump = client_tool(test, &["mariadb-dump", "mysqldump"], from)?;
    let dumped = dump
        .args(["--single-transaction", "--routines", "--triggers"])
        .output()
        .expect("run the dump tool");
    assert!(
        dumped.status.success(),
        "dump: {}",
        String::from_utf8_lossy(&dumped.stderr)
    );
    let mut load = client_tool(test, &["mariadb", "mysql"], into)?;
    let mut child = load
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the client");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&dumped.stdout)
        .unwrap();
    let loaded = child.wait_with_output().unwrap();
    assert!(
        loaded.status.success(),
        "restore: {}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    Some(())
}

#[test]
fn a_backup_restored_into_another_database_is_where_the_original_was() {
    let test = "a_backup_restored_into_another_database_is_where_the_original_was";
    let (Some(original), Some(restored)) = (database(test), database(test)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    embedded(dir.path(), &original, &["db", "upgrade"]).expect_code(0);
    execute(
        &original,
        "INSERT INTO users (email, password_hash, display_name) VALUES ('adá@x.io', 'h', 'Adá');\n\
         INSERT INTO projects (owner_id, name) VALUES (LAST_INSERT_ID(), 'P');",
    );
    dump_and_restore(test, &original, &restored).expect("dump and restore");
    // The restored database is at the same revision, with the same rows, and its schema is what
    // the migrations build: the dump kept microsecond timestamps and exact text.
    let current = embedded(dir.path(), &restored, &["db", "current"]);
    current.expect_code(0);
    assert!(current.stdout.contains("head"), "{}", current.stdout);
    embedded(dir.path(), &restored, &["db", "check"]).expect_code(0);
    let up = embedded(dir.path(), &restored, &["db", "upgrade"]);
    up.expect_code(0);
    assert!(up.stdout.contains("Nothing to apply"), "{}", up.stdout);
    assert_eq!(
        scalar(
            &restored,
            "SELECT COUNT(*) FROM users WHERE email = 'adá@x.io'"
        ),
        1
    );
    // Exact text survived: another address differing only by its accent is another user.
    execute(
        &restored,
        "INSERT INTO users (email, password_hash, display_name) VALUES ('ada@x.io', 'h', 'Ada')",
    );
    assert_eq!(scalar(&restored, "SELECT COUNT(*) FROM users"), 2);
    assert_eq!(scalar(&restored, "SELECT COUNT(*) FROM projects"), 1);
    // It migrates on its own from there: down one and up again keep the rows of the tables it keeps.
    embedded(dir.path(), &restored, &["db", "downgrade", "-1"]).expect_code(0);
    embedded(dir.path(), &restored, &["db", "upgrade"]).expect_code(0);
    assert_eq!(scalar(&restored, "SELECT COUNT(*) FROM projects"), 1);
    // The original is untouched by all this.
    embedded(dir.path(), &original, &["db", "check"]).expect_code(0);
}

#[test]
fn a_backup_taken_after_a_failed_run_restores_its_record_and_the_way_past_it() {
    let test = "a_backup_taken_after_a_failed_run_restores_its_record_and_the_way_past_it";
    let (Some(original), Some(restored)) = (database(test), database(test)) else {
        return;
    };
    let (fixture, folder, broken) = three_steps();
    on(&fixture, &original, &["db", "upgrade"]).expect_failure(1, &[folder, "statement 2 failed"]);
    dump_and_restore(test, &original, &restored).expect("dump and restore");
    // The restored database refuses as the original does, with the same account of what took effect.
    on(&fixture, &restored, &["db", "upgrade"]).expect_failure(
        1,
        &[
            folder,
            "statement 1 of its 3 statements took effect",
            "statement 2 failed",
            "--resume",
        ],
    );
    assert!(table_exists(&restored, "a"));
    assert!(!table_exists(&restored, "c"));
    // And is resumed from the failed statement once it is fixed.
    let path = fixture.migrations().join(folder).join("up.mysql.sql");
    std::fs::write(
        &path,
        broken.replace("INSERT INTO missing VALUES (1)", "DO 0"),
    )
    .unwrap();
    on(&fixture, &restored, &["db", "upgrade", "--resume"]).expect_code(0);
    assert!(table_exists(&restored, "c"));
    assert_eq!(applied(&restored), 2);
    on(&fixture, &restored, &["db", "check"]).expect_code(0);
}

/// Runs `script` with the mariadb client in batch mode (its input is no terminal) on `database`,
/// as a DBA would (`mariadb DATABASE < THIS_FILE`); the client was found by
/// [`two_databases_and_the_client`].
fn client(database: &TemporaryMysqlDatabase, script: &str) -> Run {
    use std::io::Write;
    let mut child = client_tool("offline", &["mariadb", "mysql"], database)
        .expect("the client")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the mariadb client");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap().into()
}

/// Two databases for `test`, where the mariadb (or mysql) client is installed; `None` after a skip
/// notice without a server or the client.
fn two_databases_and_the_client(
    test: &str,
) -> Option<(TemporaryMysqlDatabase, TemporaryMysqlDatabase)> {
    let databases = (database(test)?, database(test)?);
    client_tool(test, &["mariadb", "mysql"], &databases.0)?;
    Some(databases)
}

/// What the history and the schema say, to compare two databases: the history rows (what a run
/// writes, not when or how long), the run records, the columns, the routines and table `a`'s rows.
fn recorded(database: &TemporaryMysqlDatabase) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = diesel::sql_types::Text)]
        line: String,
    }
    let mut conn = MysqlConnection::establish(&url(database)).expect("connect");
    let mut lines = Vec::new();
    for sql in [
        "SELECT CONCAT_WS(' ', 'history', d.version, w.folder, w.checksum, w.stamped) AS line \
         FROM __diesel_schema_migrations d LEFT JOIN __workhub_migrations w USING (version) \
         ORDER BY d.version",
        "SELECT CONCAT_WS(' ', 'record', version) AS line FROM __workhub_migrations_run",
        "SELECT CONCAT_WS(' ', 'column', TABLE_NAME, COLUMN_NAME, COLUMN_TYPE) AS line \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
         ORDER BY TABLE_NAME, ORDINAL_POSITION",
        "SELECT CONCAT_WS(' ', 'routine', ROUTINE_NAME) AS line FROM information_schema.ROUTINES \
         WHERE ROUTINE_SCHEMA = DATABASE() ORDER BY ROUTINE_NAME",
    ] {
        let rows: Vec<Line> = diesel::sql_query(sql)
            .load(&mut conn)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        lines.extend(rows.into_iter().map(|row| row.line));
    }
    if table_exists(database, "a") {
        let rows: Vec<Line> =
            diesel::sql_query("SELECT CONCAT('row ', id) AS line FROM a ORDER BY id")
                .load(&mut conn)
                .unwrap();
        lines.extend(rows.into_iter().map(|row| row.line));
    }
    lines
}

/// Migrations with what a run treats apart: DDL, a data statement between two (its record in its
/// transaction) and one last (committed by the history rows), a procedure written with
/// DELIMITER, and a migration of one statement.
fn offline_fixture() -> Fixture {
    let fixture = Fixture::new();
    mysql_migration(
        &fixture,
        "2024-01-01-000001_table",
        "CREATE TABLE a (id BIGINT PRIMARY KEY, note TEXT NULL);\n\
         INSERT INTO a (id) VALUES (1);\n\
         ALTER TABLE a ADD COLUMN n BIGINT NOT NULL DEFAULT 0;\n\
         INSERT INTO a (id, note) VALUES (2, 'a ; in a string');\n",
        Some("DROP TABLE a;\n"),
    );
    mysql_migration(
        &fixture,
        "2024-01-01-000002_procedure",
        "DELIMITER //\n\
         CREATE PROCEDURE bump()\n\
         BEGIN\n\
         \x20 UPDATE a SET n = n + 1;\n\
         \x20 INSERT INTO a (id) VALUES (12);\n\
         END//\n\
         DELIMITER ;\n\
         CALL bump();\n",
        Some("DROP PROCEDURE bump;\nDELETE FROM a WHERE id > 2;\nUPDATE a SET n = 0;\n"),
    );
    mysql_migration(
        &fixture,
        "2024-01-01-000003_index",
        "CREATE INDEX a_n ON a (n);\n",
        Some("DROP INDEX a_n ON a;\n"),
    );
    fixture
}

/// `db upgrade --sql` and `db downgrade --sql` run by the mariadb client record what runs of the
/// engine record: the same history rows, no run record left, the same schema and rows; the lock a
/// run takes keeps the script out, and a script run where the database does not stand where it
/// starts is refused before it changes anything.
#[test]
fn offline_sql_run_by_the_mariadb_client_records_what_a_run_records() {
    let test = "offline_sql_run_by_the_mariadb_client_records_what_a_run_records";
    let Some((engine, scripted)) = two_databases_and_the_client(test) else {
        return;
    };
    let fixture = offline_fixture();
    let up = on(&fixture, &scripted, &["db", "upgrade", "--sql"]);
    up.expect_code(0);
    assert!(
        up.stdout.contains("mariadb DATABASE < THIS_FILE"),
        "{}",
        up.stdout
    );
    assert!(!table_exists(&scripted, "a"), "--sql connects to nothing");

    // While a migrator holds the lock, the script waits as long as a run would, then stops there.
    let holder = hold_the_lock(&scripted);
    let waits = with_a_short_wait(&fixture, &scripted, &["db", "upgrade", "--sql"]);
    waits.expect_code(0);
    let refused = client(&scripted, &waits.stdout);
    stopped_at(&refused, "another migrator holds the migration lock");
    assert!(!table_exists(&scripted, "__diesel_schema_migrations"));
    drop(holder);

    let ran = client(&scripted, &up.stdout);
    ran.expect_code(0);
    on(&fixture, &engine, &["db", "upgrade"]).expect_code(0);
    let applied_by_engine = recorded(&engine);
    assert!(
        applied_by_engine.contains(&"row 12".to_string())
            && applied_by_engine.contains(&"routine bump".to_string()),
        "{applied_by_engine:#?}"
    );
    assert_eq!(recorded(&scripted), applied_by_engine);
    prints(
        &on(&fixture, &scripted, &["db", "upgrade"]),
        "Nothing to apply",
    );
    on(&fixture, &scripted, &["db", "check"]).expect_code(0);
    // The script released the lock: a run takes it at once.
    assert!(!lock_held(&scripted));

    // Run again, it would apply what is applied: refused before its first statement.
    let again = client(&scripted, &up.stdout);
    stopped_at(&again, "the database is not where this script starts");
    assert_eq!(recorded(&scripted), applied_by_engine);

    // Down two, by script and by a run.
    let down = on(
        &fixture,
        &scripted,
        &["db", "downgrade", "--sql", "head:-2"],
    );
    down.expect_code(0);
    client(&scripted, &down.stdout).expect_code(0);
    on(&fixture, &engine, &["db", "downgrade", "-2"]).expect_code(0);
    let reverted = recorded(&engine);
    assert!(
        !reverted.contains(&"routine bump".to_string()),
        "{reverted:#?}"
    );
    assert_eq!(recorded(&scripted), reverted);
    assert_eq!(applied(&scripted), 1);
    // Two migrations pending, as after the run: all the check finds.
    let check = on(&fixture, &scripted, &["db", "check"]);
    check.expect_failure(1, &["check failed: 2 problems"]);
    assert!(
        check
            .stdout
            .contains("pending: 2024-01-01-000002_procedure"),
        "{}",
        check.stdout
    );

    // One transaction for all cannot be printed for MySQL either.
    on(
        &fixture,
        &scripted,
        &["db", "upgrade", "--sql", "--transaction", "all"],
    )
    .expect_failure(
        2,
        &[
            "one transaction for the whole run is impossible",
            "implicitly",
        ],
    );
}

/// A script whose second migration fails halfway stops there, leaving the run record a run of the
/// engine leaves: the next `db upgrade` refuses, naming the migration and how far it got, the script
/// itself refuses to run again, and `--resume` (after the fix) or `db repair` (after undoing what
/// took effect) goes on from there.
#[test]
fn an_offline_script_that_fails_halfway_leaves_the_record_a_run_leaves() {
    let test = "an_offline_script_that_fails_halfway_leaves_the_record_a_run_leaves";
    let Some((resumed, repaired)) = two_databases_and_the_client(test) else {
        return;
    };
    let (fixture, folder, broken) = three_steps();
    mysql_migration(
        &fixture,
        "2024-01-01-000003_after",
        "CREATE TABLE d (id BIGINT PRIMARY KEY);\n",
        Some("DROP TABLE d;\n"),
    );
    let script = on(&fixture, &resumed, &["db", "upgrade", "--sql"]);
    script.expect_code(0);
    for database in [&resumed, &repaired] {
        let failed = client(database, &script.stdout);
        stopped_at(&failed, "missing");
        // What took effect stays; the migration is not recorded; the one after it never ran.
        assert!(table_exists(database, "a") && !table_exists(database, "c"));
        assert!(!table_exists(database, "d"));
        assert_eq!(applied(database), 1);
        assert_eq!(recorded_done(database), 1);
        on(&fixture, database, &["db", "upgrade"]).expect_failure(
            1,
            &[
                folder,
                "statement 1 of its 3 statements took effect",
                "the offline script (--sql) stopped before statement 2 finished",
                "fix the cause of statement 2's failure, which the client printed",
                "an earlier run stopped there",
                "--resume",
                "db repair",
            ],
        );
        // Run again, the script refuses before anything runs.
        let again = client(database, &script.stdout);
        stopped_at(&again, "a migration was left unfinished");
        assert_eq!(recorded_done(database), 1);
    }
    // The fix, then a resume from statement 2.
    let path = fixture.migrations().join(folder).join("up.mysql.sql");
    std::fs::write(
        &path,
        broken.replace("INSERT INTO missing VALUES (1)", "DO 0"),
    )
    .unwrap();
    on(&fixture, &resumed, &["db", "upgrade", "--resume"]).expect_code(0);
    assert!(table_exists(&resumed, "c") && table_exists(&resumed, "d"));
    assert_eq!(applied(&resumed), 3);
    on(&fixture, &resumed, &["db", "check"]).expect_code(0);
    // Or statement 1 undone by hand, and repair forgets the run: the migration runs whole again.
    execute(&repaired, "DROP TABLE a");
    let forgot = on(&fixture, &repaired, &["db", "repair"]);
    prints(&forgot, "forgot the unfinished up run");
    on(&fixture, &repaired, &["db", "upgrade"]).expect_code(0);
    assert_eq!(applied(&repaired), 3);
    assert_eq!(recorded(&repaired), recorded(&resumed));
}
