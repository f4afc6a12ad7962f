//! The migration folder rules, as `source::scan` applies them to a directory (and the build script to
//! `migrations/`): every broken rule is refused with an error naming the folder or file at fault.

use std::path::Path;

use tempfile::TempDir;
use workhub_migrations::source::{checksum, scan};
use workhub_migrations::{Dialect, SourceError};

const GOOD: &str = "2024-05-01-093000_add_tasks";

fn dir() -> TempDir {
    tempfile::tempdir().expect("create a temporary directory")
}

fn write(root: &Path, relative: &str, contents: impl AsRef<[u8]>) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

/// A valid migration folder with up.sql and down.sql.
fn good(root: &Path, folder: &str) {
    write(
        root,
        &format!("{folder}/up.sql"),
        "CREATE TABLE tasks (id INTEGER);\n",
    );
    write(root, &format!("{folder}/down.sql"), "DROP TABLE tasks;\n");
}

/// Scans `root`, expecting an error whose message names every one of `needles`.
fn refused(root: &Path, needles: &[&str]) -> SourceError {
    let err = scan(root).expect_err("the scan must fail");
    let message = err.to_string();
    for needle in needles {
        assert!(message.contains(needle), "{needle:?} not in: {message}");
    }
    assert!(message.contains("hint:"), "no hint in: {message}");
    err
}

#[test]
fn a_valid_directory_scans_in_version_order() {
    let root = dir();
    good(root.path(), "2024-05-02-000000_second");
    good(root.path(), "2024-05-01-093000-0001_first");
    write(
        root.path(),
        "2024-05-03-000000_third/up.sql",
        "CREATE INDEX i ON tasks (id);",
    );
    write(
        root.path(),
        "2024-05-03-000000_third/metadata.toml",
        "run_in_transaction = false\n",
    );
    write(
        root.path(),
        "2024-05-03-000000_third/up.postgres.sql",
        "CREATE INDEX CONCURRENTLY i ON tasks (id);",
    );
    write(root.path(), ".keep", "");
    write(root.path(), "README.md", "# migrations\n");

    let scanned = scan(root.path()).expect("a valid directory");
    let folders: Vec<&str> = scanned.migrations.iter().map(|m| m.folder()).collect();
    assert_eq!(
        folders,
        [
            "2024-05-01-093000-0001_first",
            "2024-05-02-000000_second",
            "2024-05-03-000000_third"
        ]
    );
    let first = &scanned.migrations[0];
    assert_eq!(first.version(), "202405010930000001");
    assert_eq!(first.name(), "first");
    assert!(first.run_in_transaction());
    assert_eq!(
        first.scripts(Dialect::Sqlite).checksum(),
        checksum("CREATE TABLE tasks (id INTEGER);\n")
    );
    let third = &scanned.migrations[2];
    assert!(!third.run_in_transaction());
    assert!(third.scripts(Dialect::Sqlite).down().is_none());
    assert!(third
        .scripts(Dialect::Postgres)
        .up()
        .contains("CONCURRENTLY"));
    assert!(!third.scripts(Dialect::Sqlite).up().contains("CONCURRENTLY"));
    // Every file read is reported, so the build script can declare it to cargo.
    for file in [
        "2024-05-03-000000_third/metadata.toml",
        "2024-05-02-000000_second/down.sql",
    ] {
        assert!(
            scanned.paths.contains(&root.path().join(file)),
            "{file} not in {:?}",
            scanned.paths
        );
    }
}

#[test]
fn a_bad_folder_name_is_refused_naming_it() {
    for folder in [
        "add_tasks",
        "2024-05-01_add_tasks",
        "2024-05-01-093000_AddTasks",
        "2024-02-30-256000_x",
    ] {
        let root = dir();
        good(root.path(), GOOD);
        good(root.path(), folder);
        let err = refused(
            root.path(),
            &[&format!("`{folder}`"), "YYYY-MM-DD-HHMMSS_name"],
        );
        assert!(matches!(err, SourceError::BadFolderName { .. }), "{err:?}");
    }
}

#[test]
fn duplicate_versions_are_refused_naming_both_folders() {
    let root = dir();
    good(root.path(), "2024-05-01-093000_mine");
    good(root.path(), "2024-05-01-093000_theirs");
    let err = refused(
        root.path(),
        &[
            "2024-05-01-093000_mine",
            "2024-05-01-093000_theirs",
            "20240501093000",
        ],
    );
    assert!(
        matches!(err, SourceError::DuplicateVersion { .. }),
        "{err:?}"
    );
}

#[test]
fn a_folder_without_up_sql_is_refused() {
    let root = dir();
    write(
        root.path(),
        &format!("{GOOD}/down.sql"),
        "DROP TABLE tasks;",
    );
    let err = refused(root.path(), &[GOOD, "no up.sql"]);
    assert!(matches!(err, SourceError::MissingUp { .. }), "{err:?}");

    let empty_folder = dir();
    std::fs::create_dir(empty_folder.path().join(GOOD)).unwrap();
    refused(empty_folder.path(), &[GOOD, "no up.sql"]);
}

#[test]
fn an_up_sql_with_only_comments_is_empty() {
    for sql in [
        "",
        "  \n\n",
        "-- write the SQL here\n/* nothing\n yet */\n;\n",
    ] {
        let root = dir();
        write(root.path(), &format!("{GOOD}/up.sql"), sql);
        let err = refused(root.path(), &[GOOD, "up.sql is empty"]);
        assert!(
            matches!(err, SourceError::EmptyUp { .. }),
            "{sql:?}: {err:?}"
        );
    }
    let root = dir();
    good(root.path(), GOOD);
    write(
        root.path(),
        &format!("{GOOD}/up.postgres.sql"),
        "-- later\n",
    );
    write(
        root.path(),
        &format!("{GOOD}/down.postgres.sql"),
        "DROP TABLE tasks;",
    );
    refused(root.path(), &[GOOD, "up.postgres.sql is empty"]);
}

#[test]
fn a_script_that_is_not_utf8_is_refused_naming_the_file() {
    for file in ["up.sql", "down.sql"] {
        let root = dir();
        good(root.path(), GOOD);
        write(
            root.path(),
            &format!("{GOOD}/{file}"),
            b"INSERT INTO t VALUES ('caf\xe9');\n",
        );
        let err = refused(root.path(), &[GOOD, &format!("{file} is not valid UTF-8")]);
        assert!(matches!(err, SourceError::NotUtf8 { .. }), "{err:?}");
    }
}

#[test]
fn an_unexpected_file_is_refused_naming_it() {
    let root = dir();
    good(root.path(), GOOD);
    write(
        root.path(),
        &format!("{GOOD}/notes.txt"),
        "remember to index",
    );
    let err = refused(root.path(), &[GOOD, "unexpected file `notes.txt`"]);
    assert!(matches!(err, SourceError::UnexpectedFile { .. }), "{err:?}");

    let beside = dir();
    good(beside.path(), GOOD);
    write(beside.path(), "schema.rs", "// generated");
    refused(beside.path(), &["unexpected file `schema.rs`"]);
}

#[test]
fn an_unexpected_subfolder_is_refused_naming_it() {
    let root = dir();
    good(root.path(), GOOD);
    write(root.path(), &format!("{GOOD}/old/up.sql"), "SELECT 1;");
    let err = refused(root.path(), &[GOOD, "unexpected file `old`"]);
    assert!(matches!(err, SourceError::UnexpectedFile { .. }), "{err:?}");
}

#[test]
fn a_bad_metadata_toml_is_refused_naming_the_line() {
    for (toml, needle) in [
        (
            "run_in_transaction = maybe\n",
            "line 1: run_in_transaction must be true or false",
        ),
        (
            "# comment\nrun_in_transction = false\n",
            "line 2: unknown setting `run_in_transction`",
        ),
        ("[migration]\n", "line 1: expected `key = value`"),
    ] {
        let root = dir();
        good(root.path(), GOOD);
        write(root.path(), &format!("{GOOD}/metadata.toml"), toml);
        let err = refused(root.path(), &[GOOD, "metadata.toml", needle]);
        assert!(matches!(err, SourceError::BadMetadata { .. }), "{err:?}");
    }
}

#[test]
fn a_postgres_override_needs_its_counterpart() {
    let root = dir();
    good(root.path(), GOOD);
    write(
        root.path(),
        &format!("{GOOD}/up.postgres.sql"),
        "CREATE TABLE tasks (id BIGSERIAL);",
    );
    let err = refused(root.path(), &[GOOD, "no down.postgres.sql"]);
    assert!(
        matches!(err, SourceError::IncompleteDialect { .. }),
        "{err:?}"
    );

    let down_only = dir();
    good(down_only.path(), GOOD);
    write(
        down_only.path(),
        &format!("{GOOD}/down.postgres.sql"),
        "DROP TABLE tasks;",
    );
    refused(down_only.path(), &[GOOD, "no up.postgres.sql"]);

    // Without a down.sql there is nothing for down.postgres.sql to override.
    let irreversible = dir();
    write(
        irreversible.path(),
        &format!("{GOOD}/up.sql"),
        "CREATE TABLE tasks (id INTEGER);",
    );
    write(
        irreversible.path(),
        &format!("{GOOD}/up.postgres.sql"),
        "CREATE TABLE tasks (id BIGSERIAL);",
    );
    assert!(scan(irreversible.path()).is_ok());
}

#[test]
fn a_missing_directory_is_refused_naming_it() {
    let root = dir();
    let missing = root.path().join("migrations");
    let err = refused(
        &missing,
        &["cannot read the migrations directory", "migrations"],
    );
    assert!(matches!(err, SourceError::Unreadable { .. }), "{err:?}");
}
