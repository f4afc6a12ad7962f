//! The example application, run as its users run it: migrations applied once through a connection of
//! its own pool, into its own history tables, and refused when an applied one was edited.

use std::path::Path;
use std::process::{Command, Output};

fn app(db: &Path, target: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_workhub-example-diesel-app"))
        .arg(db)
        .arg(target)
        .output()
        .expect("run the example")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn sqlite3(db: &Path, sql: &str) -> String {
    use diesel::sql_types::Text;
    use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        v: String,
    }
    let mut conn = SqliteConnection::establish(&db.to_string_lossy()).unwrap();
    let rows: Vec<Row> = diesel::sql_query(sql).load(&mut conn).unwrap();
    rows.into_iter().map(|r| r.v).collect::<Vec<_>>().join(",")
}

#[test]
fn the_example_migrates_into_its_own_history_tables_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("notes.db");
    let first = stdout(&app(&db, "head"));
    assert_eq!(
        first,
        "ran 2024-03-01-090000_create_notes\nran 2024-03-02-090000_note_pinned\n\
         at 2024-03-02-090000_note_pinned\npinned notes: 1\nforeign keys: on\n"
    );
    // The migration lock was taken on the file the pool's connection is on (this sidecar is the
    // lock older builds take, which every migrator also takes).
    assert!(dir.path().join("notes.db-migrate-lock").exists());
    let second = stdout(&app(&db, "head"));
    assert_eq!(
        second,
        "at 2024-03-02-090000_note_pinned\npinned notes: 2\nforeign keys: on\n"
    );
    let tables = sqlite3(
        &db,
        "SELECT name AS v FROM sqlite_master WHERE type = 'table' ORDER BY name",
    );
    assert_eq!(tables, "notes,notes_schema_history,notes_schema_versions");
    let versions = sqlite3(
        &db,
        "SELECT version AS v FROM notes_schema_versions ORDER BY version",
    );
    assert_eq!(versions, "20240301090000,20240302090000");
}

#[test]
fn the_example_reverts_and_refuses_an_edited_migration() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("notes.db");
    stdout(&app(&db, "head"));
    let down = stdout(&app(&db, "-1"));
    assert_eq!(
        down,
        "ran 2024-03-02-090000_note_pinned\nat 2024-03-01-090000_create_notes\nforeign keys: on\n"
    );
    // The checksum recorded for the applied migration no longer matches what the binary carries.
    sqlite3(
        &db,
        "UPDATE notes_schema_history SET checksum = 'edited' RETURNING version AS v",
    );
    let refused = app(&db, "head");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("2024-03-01-090000_create_notes") && stderr.contains("modified"),
        "{stderr}"
    );
    let versions = sqlite3(&db, "SELECT version AS v FROM notes_schema_versions");
    assert_eq!(versions, "20240301090000", "the refusal ran nothing");
}
