//! The migration folder rules, as `source::scan` applies them to a directory (and the build script to
//! `migrations/`): diesel's rules. What diesel refuses is refused with an error naming the folder or file
//! at fault; what diesel accepts but workhub would not write is accepted with a finding naming it.

use std::path::Path;

use tempfile::TempDir;
use workhub_migrations::source::{checksum, scan, Scan};
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
    // The way out is data beside the message, for the front end to word: the build script or a CLI.
    assert!(
        !message.contains("hint:"),
        "a hint in the engine's message: {message}"
    );
    assert!(
        err.remedy().is_some() || matches!(err, SourceError::Unreadable { .. }),
        "no remedy for: {message}"
    );
    err
}

/// Scans `root`, expecting success, and returns the findings that mention `path`.
fn findings_about(scanned: &Scan, path: &str) -> Vec<String> {
    scanned
        .findings
        .iter()
        .filter(|f| f.path == path)
        .map(|f| f.to_string())
        .collect()
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
fn every_folder_name_diesel_accepts_is_accepted_with_diesels_version() {
    let root = dir();
    for folder in [
        "00000000000000_diesel_initial_setup",
        "20140924113530_dumped_migration_1",
        "20140929103761_seconds_past_sixty",
        "2025-08-01-000061_late_second",
        "2019-01-02-030405_Add email notifications",
        "2019-01-02-030406_drop-person-ban",
        GOOD,
    ] {
        good(root.path(), folder);
    }
    write(
        root.path(),
        "data_oauth_github.sql",
        "INSERT INTO x VALUES (1);",
    );
    write(root.path(), "README", "how we migrate");
    write(root.path(), "readme.txt", "how we migrate");
    let scanned = scan(root.path()).expect("diesel accepts this directory");
    let versions: Vec<(&str, &str)> = scanned
        .migrations
        .iter()
        .map(|m| (m.version(), m.name()))
        .collect();
    // diesel orders by version, compared as text.
    assert_eq!(
        versions,
        [
            ("00000000000000", "diesel_initial_setup"),
            ("20140924113530", "dumped_migration_1"),
            ("20140929103761", "seconds_past_sixty"),
            ("20190102030405", "Add email notifications"),
            ("20190102030406", "drop-person-ban"),
            ("20240501093000", "add_tasks"),
            ("20250801000061", "late_second"),
        ]
    );
    // workhub's convention is only a warning, and diesel's own setup folder gets none.
    assert!(findings_about(&scanned, "00000000000000_diesel_initial_setup").is_empty());
    assert!(findings_about(&scanned, GOOD).is_empty());
    for (folder, needle) in [
        ("20140924113530_dumped_migration_1", "timestamp"),
        ("20140929103761_seconds_past_sixty", "timestamp"),
        ("2025-08-01-000061_late_second", "real date"),
        (
            "2019-01-02-030405_Add email notifications",
            "name `Add email notifications`",
        ),
        (
            "2019-01-02-030406_drop-person-ban",
            "name `drop-person-ban`",
        ),
    ] {
        let found = findings_about(&scanned, folder);
        assert_eq!(found.len(), 1, "{folder}: {found:?}");
        assert!(found[0].contains(needle), "{folder}: {found:?}");
        assert!(
            found[0].contains("not named the way generated migrations are"),
            "{found:?}"
        );
    }
    // A loose file is ignored, as diesel ignores it, and named; a README is expected there.
    let loose = findings_about(&scanned, "data_oauth_github.sql");
    assert_eq!(loose.len(), 1, "{:?}", scanned.findings);
    assert!(loose[0].contains("ignored"), "{loose:?}");
    assert!(findings_about(&scanned, "README").is_empty());
    assert!(findings_about(&scanned, "readme.txt").is_empty());
    assert_eq!(scanned.findings.len(), 6, "{:#?}", scanned.findings);
}

#[test]
fn a_version_diesels_history_cannot_record_is_refused_naming_the_folder() {
    for folder in ["_no_version", &format!("{}_too_long", "1".repeat(51))] {
        let root = dir();
        good(root.path(), GOOD);
        good(root.path(), folder);
        let err = refused(root.path(), &[&format!("`{folder}`"), "version"]);
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
fn an_up_sql_of_zero_bytes_loads_with_a_finding_as_diesel_loads_it() {
    let root = dir();
    write(root.path(), &format!("{GOOD}/up.sql"), "");
    let scanned = scan(root.path()).expect("diesel loads it");
    let findings = findings_about(&scanned, GOOD);
    assert!(
        findings
            .iter()
            .any(|f| f.contains("up.sql is empty (zero bytes)")),
        "{findings:?}"
    );

    let root = dir();
    good(root.path(), GOOD);
    write(root.path(), &format!("{GOOD}/up.postgres.sql"), "");
    write(
        root.path(),
        &format!("{GOOD}/down.postgres.sql"),
        "DROP TABLE tasks;",
    );
    let scanned = scan(root.path()).expect("diesel loads it");
    let findings = findings_about(&scanned, GOOD);
    assert!(
        findings
            .iter()
            .any(|f| f.contains("up.postgres.sql is empty (zero bytes)")),
        "{findings:?}"
    );
}

#[test]
fn a_script_without_statements_is_accepted_with_a_finding() {
    for sql in ["  \n\n", "-- Your SQL goes here\n/* nothing\n yet */\n;\n"] {
        let root = dir();
        write(root.path(), &format!("{GOOD}/up.sql"), sql);
        write(root.path(), &format!("{GOOD}/down.sql"), "");
        let scanned = scan(root.path()).expect("diesel runs it as a no-op");
        assert_eq!(scanned.migrations[0].scripts(Dialect::Sqlite).up(), sql);
        let found = findings_about(&scanned, GOOD);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("up.sql holds no statement"), "{found:?}");
        assert!(found[1].contains("down.sql is empty"), "{found:?}");
    }
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
fn unknown_files_and_folders_inside_a_migration_are_ignored_with_a_finding() {
    let root = dir();
    good(root.path(), GOOD);
    write(
        root.path(),
        &format!("{GOOD}/notes.txt"),
        "remember to index",
    );
    write(
        root.path(),
        &format!("{GOOD}/old/up.sql"),
        "DROP TABLE tasks;",
    );
    write(root.path(), &format!("{GOOD}/.hidden"), "");
    let scanned = scan(root.path()).expect("diesel ignores them");
    assert_eq!(scanned.migrations.len(), 1);
    assert!(!scanned.migrations[0]
        .scripts(Dialect::Sqlite)
        .up()
        .contains("DROP"));
    let files = findings_about(&scanned, &format!("{GOOD}/notes.txt"));
    assert!(
        files[0].contains("a file migrations do not use: ignored"),
        "{files:?}"
    );
    let folders = findings_about(&scanned, &format!("{GOOD}/old"));
    assert!(
        folders[0].contains("a folder migrations do not use: ignored"),
        "{folders:?}"
    );
    assert_eq!(scanned.findings.len(), 2, "{:#?}", scanned.findings);
}

#[test]
fn metadata_toml_is_read_as_diesel_reads_it() {
    for (toml, in_transaction, finding) in [
        ("run_in_transaction = false\n", false, None),
        ("run_in_transaction = true # yes\n", true, None),
        (
            "# no key at all\n",
            false,
            Some("reads as `run_in_transaction = false`"),
        ),
        (
            "run_in_transaction = true\nrun_in_transction = false\n",
            true,
            Some("unknown setting `run_in_transction` is ignored"),
        ),
    ] {
        let root = dir();
        good(root.path(), GOOD);
        write(root.path(), &format!("{GOOD}/metadata.toml"), toml);
        let scanned = scan(root.path()).expect("diesel accepts it");
        assert_eq!(
            scanned.migrations[0].run_in_transaction(),
            in_transaction,
            "{toml:?}"
        );
        let found = findings_about(&scanned, GOOD);
        match finding {
            None => assert!(found.is_empty(), "{toml:?}: {found:?}"),
            Some(needle) => {
                assert_eq!(found.len(), 1, "{toml:?}: {found:?}");
                assert!(found[0].contains(needle), "{toml:?}: {found:?}");
            }
        }
    }
}

#[test]
fn a_metadata_toml_diesel_cannot_read_means_a_transaction_with_a_finding() {
    for (toml, needle) in [
        (
            &b"run_in_transaction = \"false\"\n"[..],
            "of TOML type string",
        ),
        (b"run_in_transaction = maybe\n", "line 1: not TOML"),
        (b"# comment\nrun_in_transaction\n", "line 2: not TOML"),
        (b"run_in_transaction = false # \xff\n", "not valid UTF-8"),
    ] {
        let root = dir();
        good(root.path(), GOOD);
        write(root.path(), &format!("{GOOD}/metadata.toml"), toml);
        let scanned = scan(root.path()).expect("diesel reads it, so workhub does");
        assert!(scanned.migrations[0].run_in_transaction(), "{needle}");
        let findings = findings_about(&scanned, GOOD);
        assert!(
            findings
                .iter()
                .any(|f| f.contains(needle) && f.contains("runs IN a transaction")),
            "{needle}: {findings:?}"
        );
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

#[cfg(unix)]
#[test]
fn a_symlinked_migration_folder_is_read_as_diesel_reads_it() {
    let root = dir();
    let elsewhere = dir();
    good(elsewhere.path(), GOOD);
    std::fs::create_dir(root.path().join("migrations")).unwrap();
    std::os::unix::fs::symlink(
        elsewhere.path().join(GOOD),
        root.path().join("migrations").join(GOOD),
    )
    .unwrap();
    let scanned = scan(&root.path().join("migrations")).expect("diesel follows the link");
    assert_eq!(scanned.migrations.len(), 1);
    assert_eq!(scanned.migrations[0].folder(), GOOD);
    assert!(scanned.findings.is_empty(), "{:?}", scanned.findings);
}
