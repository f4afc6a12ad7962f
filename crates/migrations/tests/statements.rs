//! The statement splitter as the Migrator runs it: every statement of a script runs on the database
//! it was written for, whatever its comments and identifiers look like.

use workhub_migrations::apply::{Backend, Postgres, Silent, Sqlite, TemporaryDatabase};
use workhub_migrations::plan::Target;
use workhub_migrations::testing::postgres_server;
use workhub_migrations::{Migration, Migrator, Scripts};

fn migration(folder: &str, in_transaction: bool, up: &str) -> Migration {
    let (version, name) = folder.split_once('_').unwrap();
    Migration::new(
        folder.into(),
        version.replace('-', ""),
        name.into(),
        in_transaction,
        Scripts::new(up.into(), None),
        None,
    )
}

#[test]
fn a_comment_sqlite_does_not_nest_hides_no_statement_there() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Sqlite::open(&dir.path().join("app.db")).unwrap();
    let migrations = [migration(
        "2024-01-01-000000_logs",
        true,
        "/* files under logs/* are kept */\nCREATE TABLE a(x);\nCREATE TABLE b(y);",
    )];
    Migrator::new(&migrations)
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap();
    assert!(db.table_exists("a").unwrap(), "the first table ran");
    assert!(db.table_exists("b").unwrap(), "the second table ran");
}

#[test]
fn a_column_named_begin_leaves_the_next_statement_its_own_on_postgres() {
    let Some(server) =
        postgres_server("a_column_named_begin_leaves_the_next_statement_its_own_on_postgres")
    else {
        return;
    };
    let database = TemporaryDatabase::create(&server, "split").unwrap();
    let mut db = Postgres::open(database.url()).unwrap();
    let migrations = [
        migration(
            "2024-01-01-000000_shifts",
            true,
            "CREATE TABLE shifts (id int, begin text);",
        ),
        // Outside a transaction each statement must run alone: merged with the one before, the
        // CONCURRENTLY index fails "cannot run inside a transaction block".
        migration(
            "2024-01-02-000000_index_shifts",
            false,
            "ALTER TABLE shifts ADD COLUMN \"end\" text;\nCREATE INDEX CONCURRENTLY shifts_begin ON shifts (begin);\n\
             /* a /* nested */ comment; */ CREATE INDEX CONCURRENTLY shifts_id ON shifts (id);",
        ),
    ];
    Migrator::new(&migrations)
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap();
    assert!(db.table_exists("shifts").unwrap());
}

#[test]
fn a_pending_up_sql_of_zero_bytes_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let mut db = Sqlite::open(&path).unwrap();
    let migrations = [
        migration("2024-01-01-000000_first", true, "CREATE TABLE a(x);"),
        migration("2024-01-02-000000_empty", true, ""),
    ];
    let migrator = Migrator::new(&migrations);
    let err = migrator
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("2024-01-02-000000_empty")
            && err.contains("up.sql is empty (zero bytes)")
            && err.contains("nothing was run"),
        "{err}"
    );
    assert!(!db.table_exists("a").unwrap(), "nothing ran");
    assert!(!db.table_exists("__diesel_schema_migrations").unwrap());
    // The migrations before it still run on their own.
    migrator
        .upgrade(&mut db, &Target::Forward(1), &mut Silent)
        .unwrap();
    assert!(db.table_exists("a").unwrap());
}
