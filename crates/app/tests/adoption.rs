//! Adopting an existing diesel project on SQLite: its folders load under diesel's rules with warnings
//! instead of refusals, `db check` compares the database with what its own migrations build (the
//! models describe workhub, not it), and `db repair` records checksums for rows diesel_cli wrote only
//! once the schema is proven. Every refusal leaves the database as it was.

mod common;

use common::Fixture;

/// A small diesel-style history: diesel's setup folder, a plain 14-digit version, a name with
/// capitals and spaces, a metadata.toml that names no setting, and a loose file.
fn diesel_project() -> Fixture {
    let fixture = Fixture::new();
    fixture.migration(
        "00000000000000_diesel_initial_setup",
        "-- nothing to set up on SQLite\n",
        Some("-- nothing to undo\n"),
    );
    fixture.migration(
        "20140924113530_create_users",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);\n",
        Some("DROP TABLE users;\n"),
    );
    let index = fixture.migration(
        "2015-01-01-000061_Index Users",
        "CREATE INDEX users_email ON users (email);\n",
        Some("DROP INDEX users_email;\n"),
    );
    std::fs::write(index.join("metadata.toml"), "# built by hand\n").unwrap();
    std::fs::write(
        fixture.migrations().join("data_oauth_github.sql"),
        "INSERT INTO users (email) VALUES ('x');\n",
    )
    .unwrap();
    fixture
}

#[test]
fn a_diesel_history_loads_with_warnings_and_runs_as_diesel_runs_it() {
    let fixture = diesel_project();
    // db history reads an existing database only: an empty file is an empty one.
    std::fs::write(fixture.db(), b"").unwrap();
    let history = fixture.ok(&["db", "history", "-v"]);
    for folder in [
        "00000000000000_diesel_initial_setup",
        "20140924113530_create_users",
        "2015-01-01-000061_Index Users",
    ] {
        assert!(history.stdout.contains(folder), "{}", history.stdout);
    }
    // diesel reads a metadata.toml without the key as run_in_transaction = false.
    assert!(
        history.stdout.contains("runs outside a transaction"),
        "{}",
        history.stdout
    );
    fixture.ok(&["db", "upgrade"]);
    assert_eq!(
        fixture.snapshot().versions(),
        ["00000000000000", "20140924113530", "20150101000061"]
    );
    // The loose file was not run.
    assert_eq!(fixture.count("users"), 0);
}

#[test]
fn check_compares_another_projects_database_with_what_its_migrations_build() {
    let fixture = diesel_project();
    fixture.ok(&["db", "upgrade"]);
    let check = fixture.ok(&["db", "check"]);
    assert!(
        check.stdout.contains("the models were not compared"),
        "{}",
        check.stdout
    );
    assert!(
        check
            .stdout
            .contains("its schema is what its applied migrations build"),
        "{}",
        check.stdout
    );
    for warned in [
        "warning: migrations: `data_oauth_github.sql`: not a folder",
        "warning: migrations: `2015-01-01-000061_Index Users`: not named the way generated migrations are",
        "metadata.toml has no `run_in_transaction`",
        "`00000000000000_diesel_initial_setup`: up.sql holds no statement",
    ] {
        assert!(check.stderr.contains(warned), "{warned}: {}", check.stderr);
    }
    assert!(
        !check.stderr.contains("model change"),
        "workhub's models are not this project's: {}",
        check.stderr
    );

    // Drift: a table no migration creates, an index one created gone.
    fixture.execute("CREATE TABLE stray (id INTEGER); DROP INDEX users_email;");
    let before = fixture.snapshot();
    let drifted = fixture.run(&["db", "check"]);
    drifted.expect_failure(1, &["check failed: 2 problems"]);
    for needle in ["stray", "users_email"] {
        let line = drifted
            .stdout
            .lines()
            .find(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("{needle} not named: {}", drifted.stdout));
        assert!(
            line.starts_with("the database differs from what its applied migrations build"),
            "{line}"
        );
    }
    assert_eq!(fixture.snapshot(), before, "check changed nothing");
}

#[test]
fn repair_records_checksums_for_rows_diesel_applied_only_once_the_schema_is_proven() {
    let fixture = diesel_project();
    fixture.ok(&["db", "upgrade"]);
    // As diesel_cli leaves it: diesel's rows, no companion rows.
    fixture.execute("DELETE FROM __workhub_migrations;");
    assert!(fixture.snapshot().folders().is_empty());
    // A history diesel_cli wrote is adopted as it is: applied, nothing to do.
    let upgrade = fixture.ok(&["db", "upgrade"]);
    assert!(
        upgrade.stdout.contains("Nothing to apply"),
        "{}",
        upgrade.stdout
    );

    fixture.execute("DROP INDEX users_email;");
    let before = fixture.snapshot();
    let refused = fixture.run(&["db", "repair"]);
    refused.expect_failure(
        1,
        &[
            "cannot record checksums for 3 migrations applied without one",
            "2015-01-01-000061_Index Users",
            "users_email",
            "nothing was recorded; the history is unchanged",
            "hint:",
        ],
    );
    assert_eq!(
        fixture.snapshot(),
        before,
        "a refused repair changed nothing"
    );

    fixture.execute("CREATE INDEX users_email ON users (email);");
    let repaired = fixture.ok(&["db", "repair"]);
    assert_eq!(
        repaired
            .stdout
            .matches("recorded the current checksum of")
            .count(),
        3,
        "{}",
        repaired.stdout
    );
    assert_eq!(fixture.snapshot().folders().len(), 3);
    // With every checksum recorded there is nothing left to prove.
    fixture.execute("CREATE TABLE later (id INTEGER);");
    let again = fixture.ok(&["db", "repair"]);
    assert!(
        again.stdout.contains("Nothing to repair"),
        "{}",
        again.stdout
    );
}

#[test]
fn a_metadata_toml_diesel_cannot_read_runs_in_a_transaction_as_diesel_runs_it() {
    let fixture = diesel_project();
    fixture.ok(&["db", "upgrade"]);
    let before = fixture.snapshot();
    // diesel_cli ignores a metadata.toml it cannot read and runs the migration in a transaction.
    let folder = fixture.migration(
        "2016-01-01-000000_quoted",
        "CREATE TABLE quoted (id INTEGER);\nINSERT INTO no_such_table VALUES (1);\n",
        Some("DROP TABLE quoted;\n"),
    );
    std::fs::write(
        folder.join("metadata.toml"),
        "run_in_transaction = \"false\"\n",
    )
    .unwrap();
    // `db check` fails on the pending migration, and warns about the file.
    let check = fixture.run(&["db", "check"]);
    check.expect_code(1);
    assert!(
        check.stderr.contains("2016-01-01-000000_quoted")
            && check.stderr.contains("metadata.toml is ignored")
            && check.stderr.contains("runs IN a transaction"),
        "{}",
        check.stderr
    );
    assert_eq!(fixture.snapshot(), before, "check changed nothing");
    // The second statement fails: in a transaction, the first one is rolled back with it.
    let run = fixture.run(&["db", "upgrade"]);
    run.expect_failure(1, &["2016-01-01-000000_quoted", "no_such_table"]);
    assert_eq!(
        fixture.snapshot(),
        before,
        "the failed migration left nothing"
    );
    std::fs::write(folder.join("up.sql"), "CREATE TABLE quoted (id INTEGER);\n").unwrap();
    fixture.ok(&["db", "upgrade"]);
    assert!(fixture.snapshot().tables().contains(&"quoted".to_string()));
}

#[test]
fn targets_name_adopted_folders_by_diesels_version_their_folder_or_their_name() {
    let fixture = diesel_project();
    // The version of a plain 14-digit folder, a dashed version with seconds past 59, a name with a
    // space: each names one migration.
    fixture.ok(&["db", "upgrade", "20140924113530"]);
    assert_eq!(
        fixture.snapshot().versions(),
        ["00000000000000", "20140924113530"]
    );
    fixture.ok(&["db", "upgrade", "Index Users"]);
    assert_eq!(fixture.snapshot().versions().len(), 3);
    fixture.ok(&["db", "downgrade", "2014-09-24-113530"]);
    assert_eq!(
        fixture.snapshot().versions(),
        ["00000000000000", "20140924113530"]
    );
    fixture.ok(&["db", "downgrade", "00000000000000_diesel_initial_setup"]);
    assert_eq!(fixture.snapshot().versions(), ["00000000000000"]);
    fixture.ok(&["db", "upgrade", "2015-01-01-000061_Index Users"]);
    assert_eq!(fixture.snapshot().versions().len(), 3);
}

#[test]
fn a_directory_holding_workhubs_own_history_is_still_compared_with_the_models() {
    let fixture = Fixture::with_own_history();
    fixture.ok(&["db", "upgrade"]);
    let check = fixture.ok(&["db", "check"]);
    assert!(
        check.stdout.contains("the models match the migrations"),
        "{}",
        check.stdout
    );
    assert!(!check.stdout.contains("not compared"), "{}", check.stdout);
}

#[test]
fn versions_older_than_every_migration_are_ignored_with_a_warning_as_diesel_ignores_them() {
    let fixture = diesel_project();
    fixture.ok(&["db", "upgrade"]);
    // Squashing a history deletes its oldest folders; their version rows stay in the database.
    std::fs::remove_dir_all(
        fixture
            .migrations()
            .join("00000000000000_diesel_initial_setup"),
    )
    .unwrap();
    let before = fixture.snapshot();
    for args in [&["db", "upgrade"][..], &["db", "check"]] {
        let run = fixture.ok(args);
        assert!(
            run.stderr.contains("older than the oldest migration")
                && run.stderr.contains("00000000000000_diesel_initial_setup"),
            "{args:?}: {}",
            run.stderr
        );
        assert_eq!(fixture.snapshot(), before, "{args:?} changed nothing");
    }
    let history = fixture.ok(&["db", "history"]);
    assert!(
        history
            .stdout
            .contains("[-] 00000000000000_diesel_initial_setup (applied, older than every migration: ignored)"),
        "{}",
        history.stdout
    );
    // A version that is not older than every migration is still unknown, and refused.
    fixture.execute("INSERT INTO __diesel_schema_migrations (version) VALUES ('20150000000000')");
    let before = fixture.snapshot();
    let run = fixture.run(&["db", "upgrade"]);
    run.expect_failure(1, &["20150000000000", "does not know", "nothing was run"]);
    assert_eq!(fixture.snapshot(), before);
}
