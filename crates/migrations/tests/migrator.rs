//! The `Migrator` through its public API, on in-memory SQLite databases: what each command runs,
//! records and refuses, with no CLI in between; and through connections an application opened itself,
//! handed back as they were lent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::sql_types::Text;
use diesel::{QueryableByName, RunQueryDsl};
use workhub_migrations::apply::{Backend, Sqlite, TransactionMode};
use workhub_migrations::plan::{Direction, State};
use workhub_migrations::{MigrateError, Migration, Migrator, Progress, Scripts, Target, Undone};

/// A migration history written as a test reads it: folders by name, each with its SQL.
#[derive(Default)]
struct History {
    migrations: Vec<Migration>,
}

/// One migration of a [`History`]: `up` creates a table named after it unless told otherwise.
struct Step {
    name: &'static str,
    up: String,
    down: Option<String>,
    in_transaction: bool,
}

impl Step {
    fn table(name: &'static str) -> Self {
        Self {
            name,
            up: format!("CREATE TABLE {name} (id INTEGER PRIMARY KEY);"),
            down: Some(format!("DROP TABLE {name};")),
            in_transaction: true,
        }
    }

    fn sql(name: &'static str, up: &str, down: Option<&str>) -> Self {
        Self {
            name,
            up: up.to_string(),
            down: down.map(str::to_string),
            in_transaction: true,
        }
    }

    fn outside_transaction(mut self) -> Self {
        self.in_transaction = false;
        self
    }
}

impl History {
    fn of(steps: impl IntoIterator<Item = Step>) -> Self {
        let mut history = Self::default();
        for step in steps {
            history.push(step);
        }
        history
    }

    /// Appends `step` with the next version (one second after the previous).
    fn push(&mut self, step: Step) {
        let second = self.migrations.len() + 1;
        self.migrations.push(migration(second, step));
    }

    fn folders(&self) -> Vec<String> {
        self.migrations
            .iter()
            .map(|m| m.folder().to_string())
            .collect()
    }

    fn migrator(&self) -> Migrator<'_> {
        let mut migrator = Migrator::new(&self.migrations);
        migrator.lock_timeout = Duration::from_secs(5);
        migrator
    }
}

fn migration(second: usize, step: Step) -> Migration {
    Migration::new(
        format!("2024-01-01-{second:06}_{}", step.name),
        format!("20240101{second:06}"),
        step.name.to_string(),
        step.in_transaction,
        Scripts::new(step.up, step.down),
        None,
    )
}

/// A new database on the test PostgreSQL server, and its URL; `None` after a skip notice when no
/// server answers outside CI.
fn postgres(
    test: &str,
    purpose: &str,
) -> Option<(workhub_migrations::apply::TemporaryDatabase, String)> {
    let server = workhub_migrations::testing::postgres_server(test)?;
    let database = workhub_migrations::apply::TemporaryDatabase::create(&server, purpose).unwrap();
    let workhub_migrations::DatabaseUrl::Postgres(url) = database.url() else {
        unreachable!("a PostgreSQL database has a postgres URL")
    };
    let url = url.clone();
    Some((database, url))
}

fn memory() -> Sqlite<'static> {
    Sqlite::open(Path::new(":memory:")).expect("an in-memory database")
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// The database's own tables (not the history's), by name.
fn tables(db: &mut Sqlite) -> Vec<String> {
    let rows: Vec<Name> = diesel::sql_query(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE '\\_\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .load(db.connection().unwrap())
    .unwrap();
    rows.into_iter().map(|row| row.name).collect()
}

/// The folders the history records as applied, in version order.
fn applied(db: &mut Sqlite, history: &History) -> Vec<String> {
    let status = history.migrator().status(db).unwrap();
    status
        .entries()
        .iter()
        .filter(|entry| entry.state != State::Pending)
        .map(|entry| entry.migration.folder().to_string())
        .collect()
}

/// Every event a run reports, in order.
#[derive(Default)]
struct Events(Vec<String>);

impl Progress for Events {
    fn started(&mut self, index: usize, total: usize, m: &Migration, d: Direction) {
        self.0.push(format!(
            "start {}/{total} {} {}",
            index + 1,
            d.as_str(),
            m.name()
        ));
    }
    fn finished(&mut self, index: usize, total: usize, m: &Migration, d: Direction, _: Duration) {
        self.0.push(format!(
            "done {}/{total} {} {}",
            index + 1,
            d.as_str(),
            m.name()
        ));
    }
}

#[test]
fn upgrade_to_head_runs_every_migration_in_order_and_records_it() {
    let history = History::of([Step::table("users"), Step::table("projects")]);
    let mut db = memory();
    let mut events = Events::default();
    let outcome = history
        .migrator()
        .upgrade(&mut db, &Target::Head, &mut events)
        .unwrap();
    assert_eq!(
        outcome
            .ran
            .iter()
            .map(|r| r.folder.clone())
            .collect::<Vec<_>>(),
        history.folders()
    );
    assert_eq!(
        events.0,
        [
            "start 1/2 up users",
            "done 1/2 up users",
            "start 2/2 up projects",
            "done 2/2 up projects"
        ]
    );
    assert!(outcome.status.is_at_head());
    assert_eq!(tables(&mut db), ["projects", "users"]);
    let rows = db.history().unwrap();
    assert_eq!(rows.len(), 2);
    for (row, migration) in rows.iter().zip(&history.migrations) {
        assert_eq!(row.version, migration.version());
        assert_eq!(row.folder.as_deref(), Some(migration.folder()));
        assert_eq!(
            row.checksum.as_deref(),
            Some(migration.scripts(db.dialect()).checksum())
        );
        assert!(!row.stamped);
    }
}

#[test]
fn a_second_upgrade_has_nothing_to_do_and_runs_nothing() {
    let history = History::of([Step::table("users")]);
    let mut db = memory();
    let migrator = history.migrator();
    migrator
        .upgrade(&mut db, &Target::Head, &mut Events::default())
        .unwrap();
    let mut events = Events::default();
    let again = migrator
        .upgrade(&mut db, &Target::Head, &mut events)
        .unwrap();
    assert!(again.ran.is_empty());
    assert!(events.0.is_empty(), "{:?}", events.0);
}

#[test]
fn relative_and_named_targets_move_step_by_step() {
    let history = History::of([Step::table("a"), Step::table("b"), Step::table("c")]);
    let mut db = memory();
    let migrator = history.migrator();
    let quiet = &mut Events::default();
    migrator
        .upgrade(&mut db, &Target::Forward(1), quiet)
        .unwrap();
    assert_eq!(tables(&mut db), ["a"]);
    let c = history.migrations[2].version().to_string();
    migrator
        .upgrade(&mut db, &Target::Revision(c), quiet)
        .unwrap();
    assert_eq!(tables(&mut db), ["a", "b", "c"]);
    migrator
        .downgrade(&mut db, &Target::Back(2), quiet)
        .unwrap();
    assert_eq!(tables(&mut db), ["a"]);
    assert_eq!(applied(&mut db, &history), history.folders()[..1]);
    migrator.downgrade(&mut db, &Target::Base, quiet).unwrap();
    assert!(tables(&mut db).is_empty());
    assert!(applied(&mut db, &history).is_empty());
}

#[test]
fn a_failing_migration_is_rolled_back_alone_and_named_with_its_statement() {
    let history = History::of([
        Step::table("users"),
        Step::sql(
            "broken",
            "CREATE TABLE half (id INTEGER);\nINSERT INTO nowhere VALUES (1);",
            None,
        ),
        Step::table("never"),
    ]);
    let mut db = memory();
    let err = history
        .migrator()
        .upgrade(&mut db, &Target::Head, &mut Events::default())
        .unwrap_err();
    match &err {
        MigrateError::Statement {
            folder,
            statement,
            undone,
            ..
        } => {
            assert_eq!(folder, history.migrations[1].folder());
            assert_eq!(statement, "INSERT INTO nowhere VALUES (1)");
            assert_eq!(*undone, Undone::Migration);
        }
        other => panic!("expected a statement failure, got {other:?}"),
    }
    assert!(err.to_string().contains("no such table: nowhere"), "{err}");
    assert_eq!(tables(&mut db), ["users"]);
    assert_eq!(applied(&mut db, &history), history.folders()[..1]);
}

#[test]
fn one_transaction_for_all_rolls_back_the_whole_run() {
    let history = History::of([
        Step::table("users"),
        Step::sql("broken", "INSERT INTO nowhere VALUES (1);", None),
    ]);
    let mut db = memory();
    let mut migrator = history.migrator();
    migrator.transaction = TransactionMode::All;
    let mut events = Events::default();
    let err = migrator
        .upgrade(&mut db, &Target::Head, &mut events)
        .unwrap_err();
    assert!(
        matches!(
            err,
            MigrateError::Statement {
                undone: Undone::Run,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(tables(&mut db).is_empty());
    assert!(applied(&mut db, &history).is_empty());
    // Nothing is reported done before the single commit.
    assert!(
        events.0.iter().all(|e| !e.starts_with("done")),
        "{:?}",
        events.0
    );
}

#[test]
fn one_transaction_for_all_refuses_a_migration_that_needs_its_own() {
    let history = History::of([
        Step::table("users"),
        Step::table("outside").outside_transaction(),
    ]);
    let mut db = memory();
    let mut migrator = history.migrator();
    migrator.transaction = TransactionMode::All;
    let err = migrator
        .upgrade(&mut db, &Target::Head, &mut Events::default())
        .unwrap_err();
    match err {
        MigrateError::NeedsOwnTransaction { folders } => {
            assert_eq!(folders, history.folders()[1..])
        }
        other => panic!("expected NeedsOwnTransaction, got {other:?}"),
    }
    assert!(tables(&mut db).is_empty());
}

#[test]
fn an_edited_applied_migration_is_refused_until_repaired() {
    let before = History::of([Step::table("users")]);
    let mut db = memory();
    before
        .migrator()
        .upgrade(&mut db, &Target::Head, &mut Events::default())
        .unwrap();
    let mut after = History::of([Step::sql(
        "users",
        "CREATE TABLE users (id INTEGER PRIMARY KEY); -- reformatted",
        Some("DROP TABLE users;"),
    )]);
    after.push(Step::table("projects"));
    let err = after
        .migrator()
        .upgrade(&mut db, &Target::Head, &mut Events::default())
        .unwrap_err();
    match err {
        MigrateError::Modified { folders } => assert_eq!(folders, after.folders()[..1]),
        other => panic!("expected Modified, got {other:?}"),
    }
    assert_eq!(tables(&mut db), ["users"], "a refusal ran nothing");
    let repaired = after
        .migrator()
        .repair(&mut db, &mut Events::default())
        .unwrap();
    assert_eq!(repaired, after.folders()[..1]);
    after
        .migrator()
        .upgrade(&mut db, &Target::Head, &mut Events::default())
        .unwrap();
    assert_eq!(tables(&mut db), ["projects", "users"]);
}

#[test]
fn stamp_records_and_forgets_without_running_sql() {
    let history = History::of([Step::table("users"), Step::table("projects")]);
    let mut db = memory();
    let migrator = history.migrator();
    let report = migrator
        .stamp(&mut db, &Target::Head, false, &mut Events::default())
        .unwrap();
    assert_eq!(report.recorded, history.folders());
    assert!(tables(&mut db).is_empty(), "stamp runs no migration SQL");
    assert!(db.history().unwrap().iter().all(|row| row.stamped));
    let first = Target::Revision(history.migrations[0].version().to_string());
    let report = migrator
        .stamp(&mut db, &first, false, &mut Events::default())
        .unwrap();
    assert!(report.recorded.is_empty());
    assert_eq!(report.removed, history.folders()[1..]);
    assert_eq!(applied(&mut db, &history), history.folders()[..1]);
}

#[test]
fn versions_the_migrations_do_not_know_are_refused() {
    let full = History::of([Step::table("a"), Step::table("b")]);
    let mut db = memory();
    full.migrator()
        .upgrade(&mut db, &Target::Head, &mut Events::default())
        .unwrap();
    let older = History::of([Step::table("a")]);
    let err = older
        .migrator()
        .upgrade(&mut db, &Target::Head, &mut Events::default())
        .unwrap_err();
    match err {
        MigrateError::UnknownApplied {
            versions, newer, ..
        } => {
            assert_eq!(versions, [full.migrations[1].folder().to_string()]);
            assert!(newer, "b sorts after a: a newer build knows it");
        }
        other => panic!("expected UnknownApplied, got {other:?}"),
    }
}

#[test]
fn a_pending_migration_older_than_the_newest_applied_needs_consent() {
    let full = History::of([Step::table("a"), Step::table("b"), Step::table("c")]);
    let mut db = memory();
    // b arrived from another branch after c ran.
    let without_b = vec![full.migrations[0].clone(), full.migrations[2].clone()];
    Migrator::new(&without_b)
        .upgrade(&mut db, &Target::Head, &mut Events::default())
        .unwrap();
    let err = full
        .migrator()
        .upgrade(&mut db, &Target::Head, &mut Events::default())
        .unwrap_err();
    assert!(matches!(err, MigrateError::OutOfOrder { .. }), "{err:?}");
    assert_eq!(tables(&mut db), ["a", "c"]);
    let mut consenting = full.migrator();
    consenting.allow_out_of_order = true;
    let outcome = consenting
        .upgrade(&mut db, &Target::Head, &mut Events::default())
        .unwrap();
    assert_eq!(outcome.ran.len(), 1);
    assert_eq!(tables(&mut db), ["a", "b", "c"]);
}

#[test]
fn a_downgrade_over_a_migration_without_down_runs_nothing() {
    let history = History::of([
        Step::table("a"),
        Step::sql("b", "CREATE TABLE b (id INTEGER);", None),
        Step::table("c"),
    ]);
    let mut db = memory();
    let migrator = history.migrator();
    migrator
        .upgrade(&mut db, &Target::Head, &mut Events::default())
        .unwrap();
    let err = migrator
        .downgrade(&mut db, &Target::Base, &mut Events::default())
        .unwrap_err();
    match err {
        MigrateError::Irreversible { folders } => assert_eq!(folders, history.folders()[1..2]),
        other => panic!("expected Irreversible, got {other:?}"),
    }
    assert_eq!(tables(&mut db), ["a", "b", "c"], "not even c was reverted");
}

/// Two applications' histories in one PostgreSQL database, each in its own tables under its own
/// lock key: one holding its lock does not block the other, and neither touches diesel's table.
#[test]
fn two_histories_share_a_postgres_database_without_sharing_tables_or_locks() {
    use workhub_migrations::apply::{Postgres, TemporaryDatabase};
    use workhub_migrations::history::HistoryTables;
    let Some(server) = workhub_migrations::testing::postgres_server(
        "two_histories_share_a_postgres_database_without_sharing_tables_or_locks",
    ) else {
        return;
    };
    let database = TemporaryDatabase::create(&server, "histories").unwrap();
    let open = |versions: &str, companion: &str, key: i64| {
        Postgres::open(database.url())
            .unwrap()
            .with_history_tables(HistoryTables::new(versions, companion).unwrap())
            .with_lock_key(key)
    };
    let notes = History::of([Step::table("notes")]);
    let tags = History::of([Step::table("tags"), Step::table("labels")]);
    let mut holder = open("notes_versions", "notes_history", 1);
    holder.lock(Duration::from_secs(1), &mut |_| {}).unwrap();
    // Another history's migrator is not kept waiting by that lock.
    let mut other = open("tags_versions", "tags_history", 2);
    let outcome = tags
        .migrator()
        .upgrade(&mut other, &Target::Head, &mut Events::default())
        .unwrap();
    assert_eq!(outcome.ran.len(), 2);
    // The same history's migrator is.
    let mut blocked_migrator = notes.migrator();
    blocked_migrator.lock_timeout = Duration::from_millis(300);
    let mut second = open("notes_versions", "notes_history", 1);
    let err = blocked_migrator
        .upgrade(&mut second, &Target::Head, &mut Events::default())
        .unwrap_err();
    assert!(matches!(err, MigrateError::LockTimeout { .. }), "{err:?}");
    holder.unlock();
    notes
        .migrator()
        .upgrade(&mut second, &Target::Head, &mut Events::default())
        .unwrap();
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        v: String,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT tablename::text || ':' || (xpath('/row/n/text()', \
         query_to_xml(format('SELECT COUNT(*) AS n FROM %I', tablename), false, true, '')))[1]::text AS v \
         FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename",
    )
    .load(second.connection())
    .unwrap();
    let tables: Vec<String> = rows.into_iter().map(|r| r.v).collect();
    assert_eq!(
        tables,
        [
            "labels:0",
            "notes:0",
            "notes_history:1",
            "notes_versions:1",
            "tags:0",
            "tags_history:2",
            "tags_versions:2"
        ]
    );
}

/// diesel_cli reverting a migration leaves workhub's companion row of it behind; applying it again
/// records it as it is now (its checksum, not stamped), not as the stale row says.
#[test]
fn a_companion_row_left_by_another_runner_is_replaced_when_its_migration_is_applied_again() {
    let history = History::of([Step::table("users"), Step::table("projects")]);
    let mut db = memory();
    let migrator = history.migrator();
    migrator
        .upgrade(&mut db, &Target::Head, &mut Events::default())
        .unwrap();
    // What `diesel migration revert` does: the version row and the table go, workhub's row stays.
    let version = history.migrations[1].version();
    diesel::sql_query(format!(
        "DELETE FROM __diesel_schema_migrations WHERE version = '{version}'"
    ))
    .execute(db.connection().unwrap())
    .unwrap();
    diesel::sql_query("DROP TABLE projects")
        .execute(db.connection().unwrap())
        .unwrap();
    diesel::sql_query(format!(
        "UPDATE __workhub_migrations SET checksum = 'stale', folder = 'elsewhere', stamped = TRUE \
         WHERE version = '{version}'"
    ))
    .execute(db.connection().unwrap())
    .unwrap();
    let again = migrator
        .upgrade(&mut db, &Target::Head, &mut Events::default())
        .unwrap();
    assert_eq!(again.ran.len(), 1);
    assert_eq!(tables(&mut db), ["projects", "users"]);
    let rows = db.history().unwrap();
    assert_eq!(rows.len(), 2);
    let row = &rows[1];
    assert_eq!(row.version, version);
    assert_eq!(row.folder.as_deref(), Some(history.migrations[1].folder()));
    assert_eq!(
        row.checksum.as_deref(),
        Some(history.migrations[1].scripts(db.dialect()).checksum())
    );
    assert!(!row.stamped);
    // And the history is clean: nothing modified, nothing pending.
    let status = migrator.status(&mut db).unwrap();
    assert!(status.is_at_head());
    assert!(status
        .entries()
        .iter()
        .all(|entry| entry.state == State::Applied));
}

/// On a fresh PostgreSQL database the history tables are created in the first migration's own
/// transaction: when that migration fails, nothing at all is left, not even the tables; when it
/// runs outside a transaction, they are created with its history rows.
#[test]
fn a_fresh_postgres_database_gets_its_history_tables_with_the_first_migration() {
    use workhub_migrations::apply::{Postgres, TemporaryDatabase};
    let Some(server) = workhub_migrations::testing::postgres_server(
        "a_fresh_postgres_database_gets_its_history_tables_with_the_first_migration",
    ) else {
        return;
    };
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let relations = |db: &mut Postgres| -> Vec<String> {
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT tablename::text AS name FROM pg_tables \
             WHERE schemaname = current_schema() ORDER BY tablename",
        )
        .load(db.connection())
        .unwrap();
        rows.into_iter().map(|r| r.name).collect()
    };

    // A first migration that fails: nothing is left.
    let database = TemporaryDatabase::create(&server, "first_fails").unwrap();
    let mut db = Postgres::open(database.url()).unwrap();
    let history = History::of([
        Step::sql(
            "broken",
            "CREATE TABLE half (id INTEGER);\nINSERT INTO nowhere VALUES (1);",
            None,
        ),
        Step::table("never"),
    ]);
    let err = history
        .migrator()
        .upgrade(&mut db, &Target::Head, &mut Events::default())
        .unwrap_err();
    match &err {
        MigrateError::Statement {
            statement, undone, ..
        } => {
            assert_eq!(statement, "INSERT INTO nowhere VALUES (1)");
            assert_eq!(*undone, Undone::Migration);
        }
        other => panic!("expected a statement failure, got {other:?}"),
    }
    assert!(relations(&mut db).is_empty(), "{:?}", relations(&mut db));
    // The connection is usable: no transaction was left open.
    let good = History::of([Step::table("users"), Step::table("projects")]);
    good.migrator()
        .upgrade(&mut db, &Target::Head, &mut Events::default())
        .unwrap();
    assert_eq!(
        relations(&mut db),
        [
            "__diesel_schema_migrations",
            "__workhub_migrations",
            "projects",
            "users"
        ]
    );
    let rows = db.history().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows
        .iter()
        .all(|row| row.checksum.is_some() && !row.stamped));
    // The lock's look at the tables serves the next run: it has nothing to do and says so.
    let again = good
        .migrator()
        .upgrade(&mut db, &Target::Head, &mut Events::default())
        .unwrap();
    assert!(again.ran.is_empty());
    assert!(again.status.is_at_head());

    // A first migration outside a transaction: the tables come with its history rows.
    let database = TemporaryDatabase::create(&server, "first_outside").unwrap();
    let mut db = Postgres::open(database.url()).unwrap();
    let outside = History::of([
        Step::sql(
            "concurrently",
            "CREATE TABLE tags (id INTEGER);\nCREATE INDEX CONCURRENTLY tags_id ON tags (id);",
            None,
        )
        .outside_transaction(),
        Step::table("labels"),
    ]);
    let outcome = outside
        .migrator()
        .upgrade(&mut db, &Target::Head, &mut Events::default())
        .unwrap();
    assert_eq!(outcome.ran.len(), 2);
    assert_eq!(db.history().unwrap().len(), 2);
    assert_eq!(
        relations(&mut db),
        [
            "__diesel_schema_migrations",
            "__workhub_migrations",
            "labels",
            "tags"
        ]
    );
}

/// Runs `probe` as each migration starts, while the run holds the migration lock.
struct OnStart<F: FnMut()>(F);

impl<F: FnMut()> Progress for OnStart<F> {
    fn started(&mut self, _: usize, _: usize, _: &Migration, _: Direction) {
        (self.0)()
    }
}

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    value: i32,
}

/// What a lent SQLite connection's owner sees of it: its foreign keys and busy timeout, whether it
/// can begin a transaction (it has none open), and whether another migrator can take the lock.
fn sqlite_as_lent(conn: &mut diesel::SqliteConnection, path: &Path) -> String {
    use diesel::connection::SimpleConnection;
    let mut pragma = |sql: &str| {
        diesel::sql_query(sql)
            .get_result::<Setting>(conn)
            .unwrap()
            .value
    };
    let foreign_keys = pragma("SELECT foreign_keys AS value FROM pragma_foreign_keys");
    let busy_timeout = pragma("SELECT timeout AS value FROM pragma_busy_timeout");
    let outside = conn.batch_execute("BEGIN; ROLLBACK").is_ok();
    let mut other = Sqlite::open(path).unwrap();
    let unlocked = other.lock(Duration::ZERO, &mut |_| {}).is_ok();
    other.unlock();
    format!(
        "foreign_keys={foreign_keys} busy_timeout={busy_timeout} outside_transaction={outside} \
         unlocked={unlocked}"
    )
}

const SQLITE_AS_LENT: &str =
    "foreign_keys=1 busy_timeout=1234 outside_transaction=true unlocked=true";

/// A SQLite file in `dir` and the application's connection to it, configured as applications
/// configure theirs: diesel turns foreign keys on, and the busy timeout is the application's own.
fn application_sqlite(dir: &Path) -> (PathBuf, diesel::SqliteConnection) {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let path = dir.join("app.db");
    let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    conn.batch_execute("PRAGMA busy_timeout = 1234").unwrap();
    (path, conn)
}

/// Two histories whose last migration fails after `notes`: in its own transaction, and outside one
/// after a BEGIN of its own, which the failure leaves open (or, on PostgreSQL, aborted).
fn failing_after_notes() -> [History; 2] {
    let mut broken = History::of([Step::table("notes")]);
    broken.push(Step::sql("broken", "INSERT INTO nowhere VALUES (1);", None));
    let mut unfinished = History::of([Step::table("notes")]);
    unfinished.push(
        Step::sql(
            "unfinished",
            "BEGIN;\nCREATE TABLE half (id INTEGER);\nINSERT INTO nowhere VALUES (1);",
            None,
        )
        .outside_transaction(),
    );
    [broken, unfinished]
}

#[test]
fn a_callers_sqlite_connection_is_migrated_under_the_file_lock_and_handed_back_as_found() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut conn) = application_sqlite(dir.path());
    let history = History::of([
        Step::table("parent"),
        // A dangling reference, as a table rebuild makes one for a moment: foreign keys are off.
        Step::sql(
            "child",
            "CREATE TABLE child (parent_id INTEGER REFERENCES parent (id));\n\
             INSERT INTO child VALUES (7);",
            Some("DROP TABLE child;"),
        ),
    ]);
    let mut refusals = Vec::new();
    let mut probe = OnStart(|| {
        // Another migrator of the file, through its own connection, is kept out.
        let mut other = Sqlite::open(&path).unwrap();
        refusals.push(match other.lock(Duration::from_millis(50), &mut |_| {}) {
            Err(MigrateError::LockTimeout { .. }) => "refused".to_string(),
            other => format!("{other:?}"),
        });
    });
    let outcome = history
        .migrator()
        .upgrade(
            &mut Sqlite::on(&mut conn).unwrap(),
            &Target::Head,
            &mut probe,
        )
        .unwrap();
    assert_eq!(outcome.ran.len(), 2);
    assert_eq!(refusals, ["refused", "refused"]);
    assert_eq!(sqlite_as_lent(&mut conn, &path), SQLITE_AS_LENT);
    // The application's own queries see the migrated schema through the same connection.
    let rows: Vec<Name> = diesel::sql_query("SELECT CAST(parent_id AS TEXT) AS name FROM child")
        .load(&mut conn)
        .unwrap();
    assert_eq!(rows.len(), 1);
    // And another migrator through a path finds it applied.
    let mut opened = Sqlite::open(&path).unwrap();
    assert_eq!(applied(&mut opened, &history), history.folders());
}

#[test]
fn a_failing_migration_leaves_the_callers_sqlite_connection_as_it_was_lent() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut conn) = application_sqlite(dir.path());
    for failing in failing_after_notes() {
        let err = failing
            .migrator()
            .upgrade(
                &mut Sqlite::on(&mut conn).unwrap(),
                &Target::Head,
                &mut Events::default(),
            )
            .unwrap_err();
        assert!(matches!(err, MigrateError::Statement { .. }), "{err:?}");
        assert_eq!(sqlite_as_lent(&mut conn, &path), SQLITE_AS_LENT);
        let mut opened = Sqlite::open(&path).unwrap();
        assert_eq!(applied(&mut opened, &failing), failing.folders()[..1]);
    }
}

#[test]
fn a_callers_in_memory_connection_migrates_and_one_in_a_transaction_is_refused() {
    use diesel::Connection;
    let mut conn = diesel::SqliteConnection::establish(":memory:").unwrap();
    let history = History::of([Step::table("users")]);
    let mut db = Sqlite::on(&mut conn).unwrap();
    assert_eq!(db.name(), ":memory:");
    history
        .migrator()
        .upgrade(&mut db, &Target::Head, &mut Events::default())
        .unwrap();
    assert_eq!(tables(&mut db), ["users"]);
    drop(db);
    conn.transaction(|conn| {
        let err = Sqlite::on(conn).unwrap_err();
        assert!(matches!(err, MigrateError::InTransaction { .. }), "{err:?}");
        assert!(err.to_string().contains("outside any transaction"), "{err}");
        diesel::QueryResult::Ok(())
    })
    .unwrap();
}

/// What a lent PostgreSQL connection's owner sees of it: its session settings, and, from another
/// session, whether it holds an advisory lock and whether it is idle (no transaction open).
fn postgres_as_lent(
    conn: &mut diesel::PgConnection,
    observer: &mut diesel::PgConnection,
) -> String {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        v: String,
    }
    let pid = diesel::sql_query("SELECT pg_backend_pid() AS value")
        .get_result::<Setting>(conn)
        .unwrap()
        .value;
    // Asked while the lent connection is between statements.
    let seen: Row = diesel::sql_query(format!(
        "SELECT 'advisory_locks=' || (SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' \
         AND pid = {pid}) || ' state=' || (SELECT state FROM pg_stat_activity WHERE pid = {pid}) AS v"
    ))
    .get_result(observer)
    .unwrap();
    let settings: Row = diesel::sql_query(
        "SELECT 'lock_timeout=' || current_setting('lock_timeout') || ' client_min_messages=' || \
         current_setting('client_min_messages') || ' application_name=' || \
         current_setting('application_name') AS v",
    )
    .get_result(conn)
    .unwrap();
    format!("{} {}", settings.v, seen.v)
}

const POSTGRES_AS_LENT: &str = "lock_timeout=7s client_min_messages=notice \
     application_name=notes app advisory_locks=0 state=idle";

#[test]
fn a_callers_postgres_connection_is_migrated_under_the_advisory_lock_and_handed_back_as_found() {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, PgConnection};
    use workhub_migrations::apply::Postgres;
    let test = "a_callers_postgres_connection_is_migrated_under_the_advisory_lock_and_handed_back_as_found";
    let Some((database, url)) = postgres(test, "lent") else {
        return;
    };
    let url = &url;
    let mut conn = PgConnection::establish(url).unwrap();
    // The application's own session settings, none of them the engine's.
    conn.batch_execute(
        "SET lock_timeout = '7s'; SET client_min_messages = 'notice'; \
         SET application_name = 'notes app'",
    )
    .unwrap();
    let mut observer = PgConnection::establish(url).unwrap();
    let pid = diesel::sql_query("SELECT pg_backend_pid() AS value")
        .get_result::<Setting>(&mut conn)
        .unwrap()
        .value;
    let history = History::of([Step::table("notes")]);
    let mut seen = Vec::new();
    let mut probe = OnStart(|| {
        let held: Setting = diesel::sql_query(format!(
            "SELECT COUNT(*)::int AS value FROM pg_locks WHERE locktype = 'advisory' \
             AND granted AND pid = {pid}"
        ))
        .get_result(&mut observer)
        .unwrap();
        let mut other = Postgres::open(database.url()).unwrap();
        let refused = matches!(
            other.lock(Duration::from_millis(50), &mut |_| {}),
            Err(MigrateError::LockTimeout { .. })
        );
        seen.push(format!("held={} refused={refused}", held.value));
    });
    let outcome = history
        .migrator()
        .upgrade(
            &mut Postgres::on(&mut conn).unwrap(),
            &Target::Head,
            &mut probe,
        )
        .unwrap();
    assert_eq!(outcome.ran.len(), 1);
    assert_eq!(seen, ["held=1 refused=true"]);
    assert_eq!(postgres_as_lent(&mut conn, &mut observer), POSTGRES_AS_LENT);

    // A failing migration, in its transaction or after its own BEGIN outside one, hands the
    // connection back as it was lent too.
    for failing in failing_after_notes() {
        let err = failing
            .migrator()
            .upgrade(
                &mut Postgres::on(&mut conn).unwrap(),
                &Target::Head,
                &mut Events::default(),
            )
            .unwrap_err();
        assert!(matches!(err, MigrateError::Statement { .. }), "{err:?}");
        assert_eq!(postgres_as_lent(&mut conn, &mut observer), POSTGRES_AS_LENT);
    }
    let mut opened = Postgres::open(database.url()).unwrap();
    assert_eq!(opened.history().unwrap().len(), 1, "notes only");

    // A connection in the application's own transaction is refused, and its transaction goes on.
    conn.transaction(|conn| {
        let err = Postgres::on(conn).unwrap_err();
        assert!(matches!(err, MigrateError::InTransaction { .. }), "{err:?}");
        conn.batch_execute("SELECT 1")
    })
    .unwrap();
}

/// The tables of `db`'s current schema and of schema `ops`, by qualified name.
fn postgres_tables(db: &mut workhub_migrations::apply::Postgres) -> Vec<String> {
    let rows: Vec<Name> = diesel::sql_query(
        "SELECT schemaname || '.' || tablename AS name FROM pg_tables \
         WHERE schemaname IN (current_schema(), 'ops') ORDER BY 1",
    )
    .load(db.connection())
    .unwrap();
    rows.into_iter().map(|r| r.name).collect()
}

/// History tables that cannot be created (their schema does not exist) stop a first migration
/// outside a transaction before it runs, as they stop one in a transaction: the error says nothing
/// was changed, and nothing was.
#[test]
fn history_tables_that_cannot_be_created_stop_a_first_migration_outside_a_transaction_before_it_runs(
) {
    use workhub_migrations::apply::Postgres;
    use workhub_migrations::history::HistoryTables;
    let test = "history_tables_that_cannot_be_created_stop_a_first_migration_outside_a_transaction_before_it_runs";
    let Some((database, _)) = postgres(test, "uncreatable") else {
        return;
    };
    let mut db = Postgres::open(database.url())
        .unwrap()
        .with_history_tables(HistoryTables::new("ops.versions", "ops.history").unwrap());
    let outside = History::of([Step::sql(
        "concurrently",
        "CREATE TABLE tags (id INTEGER);\nCREATE INDEX CONCURRENTLY tags_id ON tags (id);",
        None,
    )
    .outside_transaction()]);
    let err = outside
        .migrator()
        .upgrade(&mut db, &Target::Head, &mut Events::default())
        .unwrap_err();
    // Before this migration ran: nothing of it, and no history tables, are left.
    assert_eq!(postgres_tables(&mut db), Vec::<String>::new(), "{err}");
    assert!(err.to_string().contains("nothing was changed"), "{err}");

    // In a transaction, the same: the creation of the tables is what is named as failing.
    let inside = History::of([Step::table("tags")]);
    let err = inside
        .migrator()
        .upgrade(&mut db, &Target::Head, &mut Events::default())
        .unwrap_err();
    assert_eq!(postgres_tables(&mut db), Vec::<String>::new(), "{err}");
    let text = err.to_string();
    assert!(text.contains("creating the history tables"), "{text}");
    assert!(text.contains("nothing was changed"), "{text}");
}

/// A migration in a transaction whose script ends that transaction itself (a `COMMIT` of its own)
/// and then fails: what it committed stays, but it is not run a second time to name the failing
/// statement; each of its statements takes effect at most once, as under diesel_cli.
#[test]
fn a_script_that_commits_and_then_fails_is_not_run_twice() {
    use workhub_migrations::apply::Postgres;
    let test = "a_script_that_commits_and_then_fails_is_not_run_twice";
    let Some((database, _)) = postgres(test, "commits") else {
        return;
    };
    let mut db = Postgres::open(database.url()).unwrap();
    let mut history = History::of([Step::sql(
        "counter",
        "CREATE TABLE counter (n INTEGER);",
        Some("DROP TABLE counter;"),
    )]);
    history.push(Step::sql(
        "commits",
        "INSERT INTO counter VALUES (1);\nCOMMIT;\nINSERT INTO nowhere VALUES (1);",
        None,
    ));
    let err = history
        .migrator()
        .upgrade(&mut db, &Target::Head, &mut Events::default())
        .unwrap_err();
    assert!(matches!(err, MigrateError::Statement { .. }), "{err:?}");
    let rows: Setting = diesel::sql_query("SELECT COUNT(*)::int AS value FROM counter")
        .get_result(db.connection())
        .unwrap();
    assert_eq!(
        rows.value, 1,
        "the script's INSERT ran {} times; {err}",
        rows.value
    );
    // The error says what is left, not that the migration was rolled back.
    match &err {
        MigrateError::Statement { undone, .. } => {
            assert_eq!(*undone, Undone::ScriptEndedTransaction)
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .contains("its script ends the transaction workhub runs it in"),
        "{err}"
    );
    assert!(!err.to_string().contains("was rolled back"), "{err}");
    let status = history.migrator().status(&mut db).unwrap();
    assert_eq!(status.pending().count(), 1);
}

/// Through a lent connection (no watcher names the blocker), a script that waits out the lock
/// timeout on another session's lock still waits it out once, not a second time in the retry that
/// names the failing statement.
#[test]
fn a_lent_connections_lock_timeout_is_waited_out_once() {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, PgConnection};
    use workhub_migrations::apply::Postgres;
    let test = "a_lent_connections_lock_timeout_is_waited_out_once";
    let Some((_database, url)) = postgres(test, "lent_wait") else {
        return;
    };
    let url = &url;
    let mut conn = PgConnection::establish(url).unwrap();
    let history = History::of([Step::table("notes")]);
    history
        .migrator()
        .upgrade(
            &mut Postgres::on(&mut conn).unwrap(),
            &Target::Head,
            &mut Events::default(),
        )
        .unwrap();
    // The service's long transaction holds a lock on notes.
    let mut service = PgConnection::establish(url).unwrap();
    service
        .batch_execute("BEGIN; LOCK TABLE notes IN ACCESS SHARE MODE")
        .unwrap();
    let mut more = History::of([Step::table("notes")]);
    more.push(Step::sql(
        "alter",
        "ALTER TABLE notes ADD COLUMN body TEXT;",
        None,
    ));
    let mut migrator = more.migrator();
    migrator.lock_timeout = Duration::from_secs(2);
    let started = std::time::Instant::now();
    let err = migrator
        .upgrade(
            &mut Postgres::on(&mut conn).unwrap(),
            &Target::Head,
            &mut Events::default(),
        )
        .unwrap_err();
    let waited = started.elapsed();
    assert!(err.to_string().contains("lock timeout"), "{err}");
    // Twice would be 4 s; the margin is for a loaded machine.
    assert!(
        waited < Duration::from_millis(3_500),
        "waited {waited:?}: {err}"
    );
}

/// A migration outside a transaction may `SET lock_timeout` for the session (generated ones do):
/// the engine's own timeout is back for what it runs next, the next migration's SQL included.
#[test]
fn a_lock_timeout_set_outside_a_transaction_does_not_outlive_its_migration() {
    let test = "a_lock_timeout_set_outside_a_transaction_does_not_outlive_its_migration";
    let Some((database, _url)) = postgres(test, "session_set") else {
        return;
    };
    let mut db = workhub_migrations::apply::Postgres::open(database.url()).unwrap();
    let history = History::of([
        Step::sql(
            "sets_its_own",
            "SET lock_timeout = '1ms';\nCREATE TABLE a (id INTEGER);",
            None,
        )
        .outside_transaction(),
        Step::sql(
            "sees_the_engines",
            "CREATE TABLE seen AS SELECT current_setting('lock_timeout') AS value;",
            None,
        ),
    ]);
    let mut migrator = history.migrator();
    migrator.lock_timeout = Duration::from_secs(7);
    migrator
        .upgrade(&mut db, &Target::Head, &mut Events::default())
        .unwrap();
    #[derive(QueryableByName)]
    struct Seen {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    let seen: Seen = diesel::sql_query("SELECT value FROM seen")
        .get_result(db.connection())
        .unwrap();
    assert_eq!(seen.value, "7s");
}
