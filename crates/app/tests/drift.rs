//! Live drift and adoption, through the binary: `db check` compares the live database with what its
//! applied migrations build and names each difference; `db diff` prints the SQL that brings the
//! database to the models or to a revision and runs none of it; `db repair` refuses a
//! schema-changing edit unless forced; a database with tables and no history is told which revision
//! to stamp by every command that meets it. On SQLite, and on PostgreSQL where the SQL differs
//! (printing a skip notice when no server answers, failing under CI=true).

mod common;

use std::path::{Path, PathBuf};

use common::{output, workhub_command, Fixture, Run, Snapshot};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use tempfile::TempDir;
use workhub_migrations::apply::TemporaryDatabase;
use workhub_migrations::testing::postgres_server;
use workhub_migrations::DatabaseUrl;

/// The repository's newest migration, which the models' schema is built by.
const HEAD: &str = "20261201143036";
const HEAD_FOLDER: &str = "2026-12-01-143036_project_invitations";
const INITIAL: &str = "20261123225048";

/// A SQLite database the binary's embedded migrations (the repository's own) run on.
struct Embedded {
    dir: TempDir,
}

impl Embedded {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("create a temporary directory"),
        }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("workhub.db")
    }

    fn run(&self, args: &[&str]) -> Run {
        on(self.dir.path(), &self.db().to_string_lossy(), args)
    }

    fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        run.expect_code(0);
        run
    }

    fn execute(&self, sql: &str) {
        let mut conn = diesel::SqliteConnection::establish(&self.db().to_string_lossy())
            .expect("open the database");
        conn.batch_execute(sql).expect("run SQL on the database");
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot::of(&self.db())
    }
}

/// `workhub ARGS` in `dir` on `url`, with its embedded migrations.
fn on(dir: &Path, url: &str, args: &[&str]) -> Run {
    let mut command = workhub_command(dir);
    command.env("DATABASE_URL", url).args(args);
    output(&mut command)
}

/// The line of `text` that mentions `needle`, or a failure showing all of it.
fn line_naming<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("nothing names {needle}:\n{text}"))
}

/// Fails the test unless `text` says `needle`, showing all of it.
fn says(text: &str, needle: &str) {
    assert!(text.contains(needle), "{needle}:\n{text}");
}

/// Fails the test unless each of `lines` is a line of `text`, as a statement of printed SQL is.
fn has_lines(text: &str, lines: &[&str]) {
    for line in lines {
        assert!(text.lines().any(|l| l == *line), "{line}:\n{text}");
    }
}

/// An index dropped by hand and a column added by hand: what the original guide's user did.
const HAND_MADE: &str =
    "DROP INDEX tasks_project_status_idx; ALTER TABLE tasks ADD COLUMN notes TEXT;";

/// The repository's migrations applied, `args` saying `clean` of it, then [`HAND_MADE`]; with the
/// snapshot taken after it.
fn drifted(args: &[&str], clean: &str) -> (Embedded, Snapshot) {
    let db = Embedded::new();
    db.ok(&["db", "upgrade"]);
    says(&db.ok(args).stdout, clean);
    db.execute(HAND_MADE);
    let before = db.snapshot();
    (db, before)
}

#[test]
fn check_names_each_difference_between_the_live_database_and_its_migrations() {
    let (db, before) = drifted(
        &["db", "check"],
        "its schema is what its applied migrations build",
    );
    let check = db.run(&["db", "check"]);
    check.expect_failure(1, &["check failed: 2 problems", "nothing was changed"]);
    assert_eq!(
        line_naming(&check.stdout, "tasks_project_status_idx"),
        "the database differs from what its applied migrations build: index \
         tasks_project_status_idx on tasks: the migrations build (project_id, status); the \
         database has none"
    );
    assert_eq!(
        line_naming(&check.stdout, "tasks.notes"),
        "the database differs from what its applied migrations build: column tasks.notes: the \
         migrations build none; the database has TEXT"
    );
    says(
        &check.stderr,
        &format!("hint: `workhub db diff {HEAD}` prints the SQL"),
    );
    assert!(
        !check.stderr.contains("db upgrade"),
        "nothing is pending: {}",
        check.stderr
    );
    assert_eq!(db.snapshot(), before, "check changed nothing");
}

#[test]
fn diff_prints_the_sql_that_brings_the_database_to_the_models_and_runs_none_of_it() {
    let (db, before) = drifted(
        &["db", "diff"],
        "already matches the models: there is nothing to run",
    );
    let json = db.ok(&["db", "diff", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(json["format"], "workhub-diff/1");
    assert_eq!(json["dialect"], "sqlite");
    assert_eq!(json["differences"].as_array().unwrap().len(), 2, "{json}");
    assert!(
        json["sql"]
            .as_str()
            .unwrap()
            .contains("ALTER TABLE \"tasks\" DROP COLUMN \"notes\";"),
        "{json}"
    );
    let diff = db.ok(&["db", "diff"]);
    has_lines(
        &diff.stdout,
        &[
            "PRAGMA foreign_keys = OFF;",
            "BEGIN;",
            "ALTER TABLE \"tasks\" DROP COLUMN \"notes\";",
            "CREATE INDEX \"tasks_project_status_idx\" ON \"tasks\" (\"project_id\", \"status\");",
            "COMMIT;",
        ],
    );
    assert!(
        diff.stdout.contains("-- DESTRUCTIVE"),
        "dropping the column is marked: {}",
        diff.stdout
    );
    assert!(
        diff.stderr.contains("2 differences between") && diff.stderr.contains("nothing was run"),
        "{}",
        diff.stderr
    );
    assert_eq!(db.snapshot(), before, "diff ran nothing");

    // Run as printed, it brings the database back: check passes again.
    db.execute(&diff.stdout);
    db.ok(&["db", "check"]);

    // To a revision: what the migrations up to the first one build, on the database's dialect.
    let back = db.ok(&["db", "diff", INITIAL]);
    says(&back.stdout, "to what the migrations build up to");
    has_lines(&back.stdout, &["DROP TABLE \"project_invitations\";"]);
}

#[test]
fn diff_refuses_what_it_cannot_compare_with_the_documented_exit_codes() {
    let db = Embedded::new();
    // Read-only: no database at the path is exit 3, and nothing is created.
    db.run(&["db", "diff"])
        .expect_failure(3, &["no database at", "nothing was created"]);
    assert!(!db.db().exists());
    db.ok(&["db", "upgrade"]);
    db.run(&["db", "diff", "+1"])
        .expect_failure(2, &["counts from where the database stands", "hint:"]);
    db.run(&["db", "diff", "nonsense"]).expect_code(2);
}

/// A fixture's own history: a table, then an index on it.
fn indexed() -> Fixture {
    let fixture = Fixture::new();
    fixture.migration(
        "2024-01-01-000001_items",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n",
        Some("DROP TABLE items;\n"),
    );
    fixture.migration(
        "2024-01-01-000002_items_name",
        "CREATE INDEX items_name ON items (name);\n",
        Some("DROP INDEX items_name;\n"),
    );
    fixture
}

#[test]
fn repair_refuses_an_edit_that_changes_the_schema_unless_forced() {
    let fixture = indexed();
    fixture.ok(&["db", "upgrade"]);
    let up = fixture
        .migrations()
        .join("2024-01-01-000002_items_name/up.sql");

    // An edit that changes what the migration builds: refused, nothing recorded.
    std::fs::write(&up, "CREATE UNIQUE INDEX items_name ON items (name);\n").unwrap();
    let before = fixture.snapshot();
    let refused = fixture.run(&["db", "repair"]);
    refused.expect_failure(
        1,
        &[
            "cannot record checksums for 1 migration edited since applied \
             (2024-01-01-000002_items_name)",
            "index items_name on items: the migrations build UNIQUE (name); the database has (name)",
            "nothing was recorded; the history is unchanged",
            "`workhub db repair --force`",
        ],
    );
    assert_eq!(
        fixture.snapshot(),
        before,
        "a refused repair changed nothing"
    );
    fixture
        .run(&["db", "check"])
        .expect_failure(1, &["check failed"]);

    // A harmless edit (a comment) builds the same schema: recorded.
    std::fs::write(
        &up,
        "-- the index the list page sorts by\nCREATE INDEX items_name ON items (name);\n",
    )
    .unwrap();
    let repaired = fixture.ok(&["db", "repair"]);
    says(
        &repaired.stdout,
        "recorded the current checksum of 2024-01-01-000002_items_name",
    );
    fixture.ok(&["db", "check"]);

    // --force records even a schema-changing edit, as the refusal said.
    std::fs::write(&up, "CREATE UNIQUE INDEX items_name ON items (name);\n").unwrap();
    fixture.ok(&["db", "repair", "--force"]);
    let history = fixture.ok(&["db", "history"]);
    assert!(!history.stdout.contains("[!]"), "{}", history.stdout);
}

/// The repository's tables without their history, as a database made by other means has them.
fn unadopted() -> Embedded {
    let db = Embedded::new();
    db.ok(&["db", "upgrade"]);
    db.execute("DROP TABLE __diesel_schema_migrations; DROP TABLE __workhub_migrations;");
    db
}

#[test]
fn every_command_that_meets_tables_without_history_names_the_revision_to_stamp() {
    let db = unadopted();
    let stamp_head = format!("`workhub db stamp {HEAD}`");

    for args in [
        &["db", "current"][..],
        &["db", "history"],
        &["db", "downgrade", "base"],
    ] {
        let run = db.ok(args);
        assert!(
            run.stdout.contains("records no migration as applied")
                && run.stdout.contains(&stamp_head)
                && run.stdout.contains(HEAD_FOLDER),
            "{args:?}: {}",
            run.stdout
        );
    }

    let before = db.snapshot();
    let check = db.run(&["db", "check"]);
    check.expect_failure(1, &["check failed", &stamp_head]);
    assert!(
        check.stdout.contains("has tables (project_invitations,"),
        "{}",
        check.stdout
    );
    assert!(
        !check.stderr.contains("db upgrade` applies"),
        "an unadopted database is stamped, not upgraded: {}",
        check.stderr
    );
    assert_eq!(db.snapshot(), before, "check changed nothing");

    // The upgrade the guide's user ran: it fails on the first CREATE TABLE, and says why.
    let upgrade = db.run(&["db", "upgrade"]);
    upgrade.expect_failure(
        1,
        &[
            "already exists",
            "records no migration as applied",
            &stamp_head,
        ],
    );
    db.run(&["--migrate-only"])
        .expect_failure(1, &["already exists", &stamp_head]);
    let serve = {
        let mut command = workhub_command(db.dir.path());
        command
            .env("DATABASE_URL", db.db())
            .env("WORKHUB_ENV", "development")
            .env("WORKHUB_ADDR", "127.0.0.1:0")
            .arg("serve");
        output(&mut command)
    };
    serve.expect_failure(1, &["already exists", &stamp_head]);
    // Production serve migrates nothing: it refuses to start, and says to stamp, not to migrate.
    let production = {
        let mut command = workhub_command(db.dir.path());
        command
            .env("DATABASE_URL", db.db())
            .env("WORKHUB_ENV", "production")
            .env("WORKHUB_ADDR", "127.0.0.1:0")
            .arg("serve");
        output(&mut command)
    };
    production.expect_failure(
        1,
        &[
            "production mode",
            "records no migration as applied",
            &stamp_head,
        ],
    );
    assert!(
        !production.stderr.contains("--migrate-only"),
        "{}",
        production.stderr
    );

    // A stamp of the wrong revision is refused, naming the right one; nothing is recorded.
    let before = db.snapshot();
    let refused = db.run(&["db", "stamp", INITIAL]);
    refused.expect_failure(
        1,
        &[
            "differs from what 20261123225048 builds",
            "table project_invitations: the migrations build none; the database has columns",
            "nothing was recorded",
            &stamp_head,
        ],
    );
    assert_eq!(db.snapshot(), before, "a refused stamp changed nothing");

    db.ok(&["db", "stamp", HEAD]);
    db.ok(&["db", "check"]);
    let current = db.ok(&["db", "current"]);
    assert!(!current.stdout.contains("note:"), "{}", current.stdout);
}

#[test]
fn a_database_matching_several_revisions_is_told_which_change_only_data() {
    let fixture = Fixture::new();
    fixture.migration(
        "2024-01-01-000001_items",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n",
        Some("DROP TABLE items;\n"),
    );
    fixture.migration(
        "2024-01-01-000002_seed_items",
        "INSERT INTO items (name) VALUES ('first');\n",
        Some("DELETE FROM items;\n"),
    );
    fixture.migration(
        "2024-01-01-000003_tags",
        "CREATE TABLE tags (id INTEGER PRIMARY KEY);\n",
        Some("DROP TABLE tags;\n"),
    );
    fixture.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);");
    let before = fixture.snapshot();
    let refused = fixture.run(&["db", "stamp", "head"]);
    refused.expect_failure(
        1,
        &[
            "table tags: the migrations build columns (id); the database has none",
            "up to 2024-01-01-000001_items build, and 2024-01-01-000002_seed_items changes no \
             schema: `workhub db stamp 20240101000001`",
            "(stamp 20240101000002 instead if that data is already there)",
        ],
    );
    assert_eq!(
        fixture.snapshot(),
        before,
        "a refused stamp changed nothing"
    );
    // Stamped as the hint says, the upgrade runs the seed and the rest.
    fixture.ok(&["db", "stamp", "20240101000001"]);
    fixture.ok(&["db", "upgrade"]);
    assert_eq!(fixture.count("items"), 1);
}

fn postgres(test: &str) -> Option<(TemporaryDatabase, String)> {
    let server = postgres_server(test)?;
    let database = TemporaryDatabase::create(&server, "test").expect("create a test database");
    let url = match database.url() {
        DatabaseUrl::Postgres(raw) => raw.clone(),
        _ => unreachable!("a PostgreSQL server's database"),
    };
    Some((database, url))
}

fn pg_execute(url: &str, sql: &str) {
    let mut conn = PgConnection::establish(url).expect("connect");
    conn.batch_execute(sql)
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
}

#[test]
fn drift_and_diff_on_postgres_speak_its_dialect() {
    let Some((_database, url)) = postgres("drift_and_diff_on_postgres_speak_its_dialect") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    on(dir.path(), &url, &["db", "upgrade"]).expect_code(0);
    on(dir.path(), &url, &["db", "check"]).expect_code(0);

    pg_execute(&url, HAND_MADE);
    let check = on(dir.path(), &url, &["db", "check"]);
    check.expect_failure(1, &["check failed: 2 problems"]);
    assert!(
        line_naming(&check.stdout, "tasks_project_status_idx")
            .ends_with("the migrations build (project_id, status); the database has none"),
        "{}",
        check.stdout
    );
    assert!(
        line_naming(&check.stdout, "tasks.notes")
            .ends_with("the migrations build none; the database has TEXT"),
        "{}",
        check.stdout
    );

    let diff = on(dir.path(), &url, &["db", "diff"]);
    diff.expect_code(0);
    assert!(
        !diff.stdout.contains("PRAGMA"),
        "no SQLite in PostgreSQL's SQL: {}",
        diff.stdout
    );
    has_lines(
        &diff.stdout,
        &[
            "BEGIN;",
            "ALTER TABLE \"tasks\" DROP COLUMN \"notes\";",
            "COMMIT;",
        ],
    );
    // Still drifted: diff ran nothing. Run as printed, it brings the database back.
    on(dir.path(), &url, &["db", "check"]).expect_code(1);
    pg_execute(&url, &diff.stdout);
    on(dir.path(), &url, &["db", "check"]).expect_code(0);
}

#[test]
fn tables_without_history_on_postgres_are_told_the_revision_to_stamp() {
    let Some((_database, url)) =
        postgres("tables_without_history_on_postgres_are_told_the_revision_to_stamp")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    on(dir.path(), &url, &["db", "upgrade"]).expect_code(0);
    pg_execute(
        &url,
        "DROP TABLE __diesel_schema_migrations; DROP TABLE __workhub_migrations;",
    );
    let stamp_head = format!("`workhub db stamp {HEAD}`");
    let current = on(dir.path(), &url, &["db", "current"]);
    current.expect_code(0);
    says(&current.stdout, &stamp_head);
    on(dir.path(), &url, &["db", "upgrade"]).expect_failure(1, &["already exists", &stamp_head]);
    on(dir.path(), &url, &["db", "stamp", INITIAL])
        .expect_failure(1, &["nothing was recorded", &stamp_head]);
    on(dir.path(), &url, &["db", "stamp", HEAD]).expect_code(0);
    on(dir.path(), &url, &["db", "check"]).expect_code(0);
}

/// A migration outside a transaction that stopped part-way leaves a difference: `db check` says that
/// finishing it is the way out, before the ways to undo it.
#[test]
fn check_after_a_part_run_migration_outside_a_transaction_says_to_run_it_again() {
    let fixture = Fixture::new();
    fixture.migration(
        "2024-01-01-000001_tables",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER);\n",
        Some("DROP TABLE t;\n"),
    );
    let outside = fixture.migration(
        "2024-01-01-000002_index",
        "CREATE INDEX t_n ON t (n);\nINSERT INTO not_yet (id) VALUES (1);\n",
        Some("DROP INDEX t_n;\n"),
    );
    std::fs::write(
        outside.join("metadata.toml"),
        "run_in_transaction = false\n",
    )
    .unwrap();
    fixture
        .run(&["db", "upgrade"])
        .expect_failure(1, &["statements before this one took effect"]);
    let run = fixture.run(&["db", "check"]);
    run.expect_failure(
        1,
        &[
            "2024-01-01-000002_index runs outside a transaction (run_in_transaction = false) and is \
             pending: if a run of it stopped part-way, what it did so far is this difference; \
             `workhub db upgrade` runs it again",
        ],
    );
    assert!(
        run.all().contains("pending: 2024-01-01-000002_index"),
        "{}",
        run.all()
    );
    assert!(
        run.all().contains("t_n"),
        "the index is named:\n{}",
        run.all()
    );
}
