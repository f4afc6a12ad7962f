//! Every `workhub` command end to end on a temporary SQLite database, with migrations read from a
//! fixture folder (`--migrations-dir` through `WORKHUB_MIGRATIONS_DIR`).

mod common;

use common::{marked, output, step_folder, step_version, Fixture};
use workhub_migrations::source::checksum;

fn folders(range: std::ops::RangeInclusive<usize>) -> Vec<String> {
    range.map(step_folder).collect()
}

fn tables(range: std::ops::RangeInclusive<usize>) -> Vec<String> {
    range.map(|n| format!("t{n:02}")).collect()
}

#[test]
fn upgrade_applies_every_pending_migration_and_records_it() {
    let fixture = Fixture::with_steps(3);
    let run = fixture.ok(&["db", "upgrade"]);
    assert!(
        run.stdout.contains("Applied 3 migrations"),
        "{}",
        run.stdout
    );
    for folder in folders(1..=3) {
        assert!(
            run.stdout.contains(&format!("applied {folder}")),
            "{}",
            run.stdout
        );
    }

    let snapshot = fixture.snapshot();
    assert_eq!(snapshot.tables(), tables(1..=3));
    assert_eq!(
        snapshot.versions(),
        (1..=3).map(step_version).collect::<Vec<_>>()
    );
    assert_eq!(snapshot.folders(), folders(1..=3));
    for (n, row) in (1..=3).zip(&snapshot.workhub_rows) {
        let up = std::fs::read_to_string(fixture.migrations().join(step_folder(n)).join("up.sql"))
            .unwrap();
        assert_eq!(
            row[2].as_deref(),
            Some(checksum(&up).as_str()),
            "checksum of step {n}"
        );
        assert_eq!(
            row[5].as_deref(),
            Some("0"),
            "step {n} ran, it was not stamped"
        );
    }

    let again = fixture.ok(&["db", "upgrade"]);
    assert!(
        again.stdout.contains("Nothing to apply"),
        "{}",
        again.stdout
    );
    assert_eq!(fixture.snapshot(), snapshot);
}

#[test]
fn upgrade_plus_n_applies_the_next_n() {
    let fixture = Fixture::with_steps(4);
    fixture.ok(&["db", "upgrade", "+1"]);
    assert_eq!(fixture.applied(), folders(1..=1));
    fixture.ok(&["db", "upgrade", "+2"]);
    assert_eq!(fixture.applied(), folders(1..=3));
    assert_eq!(fixture.snapshot().tables(), tables(1..=3));
}

#[test]
fn upgrade_to_a_version_a_prefix_a_folder_or_a_name() {
    let fixture = Fixture::new();
    let all = [
        "2024-01-10-090000_alpha",
        "2024-02-10-090000_beta",
        "2024-03-10-090000_gamma",
        "2024-04-10-090000_delta",
        "2024-05-10-090000_epsilon",
    ];
    for (n, folder) in all.iter().enumerate() {
        fixture.migration(
            folder,
            &format!("CREATE TABLE x{n} (id INTEGER);"),
            Some(&format!("DROP TABLE x{n};")),
        );
    }
    let applied_through = |last: usize| {
        all[..=last]
            .iter()
            .map(|f| f.to_string())
            .collect::<Vec<_>>()
    };

    fixture.ok(&["db", "upgrade", "20240110090000"]);
    assert_eq!(fixture.applied(), applied_through(0));
    fixture.ok(&["db", "upgrade", "202402"]);
    assert_eq!(fixture.applied(), applied_through(1));
    fixture.ok(&["db", "upgrade", "2024-03-10-090000_gamma"]);
    assert_eq!(fixture.applied(), applied_through(2));
    fixture.ok(&["db", "upgrade", "delta"]);
    assert_eq!(fixture.applied(), applied_through(3));
    fixture.ok(&["db", "upgrade", "head"]);
    assert_eq!(fixture.applied(), applied_through(4));
}

#[test]
fn downgrade_reverts_one_n_to_a_version_or_to_base() {
    let fixture = Fixture::with_steps(5);
    fixture.ok(&["db", "upgrade"]);

    let run = fixture.ok(&["db", "downgrade"]);
    assert!(
        run.stdout.contains(&format!("reverted {}", step_folder(5))),
        "{}",
        run.stdout
    );
    assert_eq!(fixture.applied(), folders(1..=4));
    assert_eq!(fixture.snapshot().tables(), tables(1..=4));

    fixture.ok(&["db", "downgrade", "-2"]);
    assert_eq!(fixture.applied(), folders(1..=2));

    fixture.ok(&["db", "upgrade"]);
    // Downgrading to a version keeps that version applied, as Alembic does.
    fixture.ok(&["db", "downgrade", &step_version(3)]);
    assert_eq!(fixture.applied(), folders(1..=3));
    assert_eq!(fixture.snapshot().tables(), tables(1..=3));

    let run = fixture.ok(&["db", "downgrade", "base"]);
    assert!(
        run.stdout.contains("Reverted 3 migrations"),
        "{}",
        run.stdout
    );
    assert_eq!(fixture.applied(), Vec::<String>::new());
    let snapshot = fixture.snapshot();
    assert_eq!(snapshot.tables(), Vec::<String>::new());
    assert!(snapshot.versions().is_empty() && snapshot.workhub_rows.is_empty());
}

#[test]
fn current_shows_the_revision_and_whether_it_is_head() {
    let fixture = Fixture::with_steps(2);
    fixture.execute("SELECT 1;");
    let fresh = fixture.ok(&["db", "current"]);
    assert!(
        fresh.stdout.contains("base (nothing applied)"),
        "{}",
        fresh.stdout
    );

    fixture.ok(&["db", "upgrade", "+1"]);
    let behind = fixture.ok(&["db", "current"]);
    assert!(
        behind
            .stdout
            .contains(&format!("{} ({})", step_version(1), step_folder(1))),
        "{}",
        behind.stdout
    );
    assert!(!behind.stdout.contains("head)"), "{}", behind.stdout);
    assert!(
        behind
            .stdout
            .contains(&format!("1 pending, up to {}", step_folder(2))),
        "{}",
        behind.stdout
    );

    fixture.ok(&["db", "upgrade"]);
    let verbose = fixture.ok(&["db", "current", "-v"]);
    assert!(
        verbose
            .stdout
            .contains(&format!("{} ({}, head)", step_version(2), step_folder(2))),
        "{}",
        verbose.stdout
    );
    assert!(
        verbose
            .stdout
            .contains(&format!("database: {}", fixture.db().display())),
        "{}",
        verbose.stdout
    );
    assert!(
        verbose.stdout.contains("migrations: 2 in "),
        "{}",
        verbose.stdout
    );
    assert!(
        verbose.stdout.contains("applied at: "),
        "{}",
        verbose.stdout
    );
    let up =
        std::fs::read_to_string(fixture.migrations().join(step_folder(2)).join("up.sql")).unwrap();
    assert!(
        verbose
            .stdout
            .contains(&format!("checksum: {}", checksum(&up))),
        "{}",
        verbose.stdout
    );
}

#[test]
fn history_marks_applied_pending_modified_and_unknown() {
    let fixture = Fixture::with_steps(4);
    fixture.ok(&["db", "upgrade", "+3"]);
    // Step 1 edited after it ran, step 3 unknown to this migrations folder, step 4 pending.
    let up = fixture.migrations().join(step_folder(1)).join("up.sql");
    let mut sql = std::fs::read_to_string(&up).unwrap();
    sql.push_str("CREATE INDEX t01_id ON t01 (id);\n");
    std::fs::write(&up, sql).unwrap();
    std::fs::remove_dir_all(fixture.migrations().join(step_folder(3))).unwrap();

    let lines = fixture.history();
    assert_eq!(
        lines,
        vec![
            format!("[!] {} (modified since applied)", step_folder(1)),
            format!("[x] {} (current)", step_folder(2)),
            format!("[ ] {} (head)", step_folder(4)),
            format!("[?] {} (applied, unknown to this binary)", step_folder(3)),
        ]
    );
}

#[test]
fn history_verbose_shows_the_details_of_each_migration() {
    let fixture = Fixture::with_steps(2);
    fixture.migration(
        "2024-01-01-000003_no_way_back",
        "CREATE TABLE t03 (id INTEGER);",
        None,
    );
    std::fs::write(
        fixture
            .migrations()
            .join("2024-01-01-000003_no_way_back")
            .join("metadata.toml"),
        "run_in_transaction = false\n",
    )
    .unwrap();
    fixture.ok(&["db", "upgrade", "+1"]);
    fixture.ok(&["db", "stamp", &step_version(2), "--force"]);

    let run = fixture.ok(&["db", "history", "-v"]);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let details_of = |folder: &str| {
        let at = lines
            .iter()
            .position(|line| line.contains(folder))
            .unwrap_or_else(|| panic!("{folder} listed"));
        lines[at + 1].to_string()
    };
    assert!(
        run.stdout
            .contains(&format!("database: {}", fixture.db().display())),
        "{}",
        run.stdout
    );
    let first = details_of(&step_folder(1));
    assert!(
        first.contains(&format!("version {}", step_version(1))),
        "{first}"
    );
    assert!(
        first.contains("reversible") && first.contains("applied ") && first.contains(" ms"),
        "{first}"
    );
    let second = details_of(&step_folder(2));
    assert!(second.contains("stamped "), "{second}");
    let third = details_of("2024-01-01-000003_no_way_back");
    assert!(
        third.contains("no down.sql") && third.contains("runs outside a transaction"),
        "{third}"
    );
    assert!(!third.contains("applied"), "{third}");
    assert!(lines.iter().any(|line| line.starts_with("[x]")
        && line.contains(&step_folder(2))
        && line.ends_with("(current)")));
    assert!(lines
        .iter()
        .any(|line| line.starts_with("[ ]") && line.ends_with("_no_way_back (head)")));
}

#[test]
fn stamp_records_a_revision_without_running_sql() {
    let fixture = Fixture::with_steps(3);
    let run = fixture.ok(&["db", "stamp", "head"]);
    for folder in folders(1..=3) {
        assert!(
            run.stdout
                .contains(&format!("recorded {folder} as applied")),
            "{}",
            run.stdout
        );
    }
    let snapshot = fixture.snapshot();
    assert_eq!(snapshot.tables(), Vec::<String>::new(), "stamp runs no SQL");
    assert_eq!(snapshot.folders(), folders(1..=3));
    assert!(
        snapshot
            .workhub_rows
            .iter()
            .all(|row| row[5].as_deref() == Some("1")),
        "{snapshot:?}"
    );
    fixture.assert_at_head();

    let run = fixture.ok(&["db", "stamp", &step_version(1)]);
    assert!(
        run.stdout
            .contains(&format!("removed {} from the history", step_folder(3))),
        "{}",
        run.stdout
    );
    assert_eq!(fixture.applied(), folders(1..=1));

    fixture.ok(&["db", "stamp", "base"]);
    assert_eq!(fixture.applied(), Vec::<String>::new());
    let snapshot = fixture.snapshot();
    assert!(
        snapshot.versions().is_empty() && snapshot.tables().is_empty(),
        "{snapshot:?}"
    );
}

#[test]
fn stamp_purge_forgets_versions_this_binary_does_not_know() {
    let fixture = Fixture::with_steps(3);
    fixture.ok(&["db", "upgrade"]);
    std::fs::remove_dir_all(fixture.migrations().join(step_folder(3))).unwrap();
    let before = fixture.snapshot();

    fixture
        .run(&["db", "stamp", "head", "--force"])
        .expect_failure(1, &[&step_folder(3), "does not know"]);
    assert_eq!(fixture.snapshot(), before);

    // --force: the database still has t03, which the known migrations do not build.
    let run = fixture.ok(&["db", "stamp", "head", "--purge", "--force"]);
    let changed: Vec<&str> = run
        .stdout
        .lines()
        .filter(|line| line.starts_with("recorded ") || line.starts_with("removed "))
        .collect();
    assert_eq!(
        changed,
        vec![format!(
            "removed {} from the history (no SQL run)",
            step_folder(3)
        )],
        "{}",
        run.all()
    );
    // The known applied rows are left as they were: when and how long they ran.
    let after = fixture.snapshot();
    assert_eq!(after.diesel_rows, before.diesel_rows[..2]);
    assert_eq!(after.workhub_rows, before.workhub_rows[..2]);
    assert_eq!(after.versions(), vec![step_version(1), step_version(2)]);
    assert!(marked(&fixture.history(), "[?]").is_empty());
    fixture.assert_at_head();

    // With nothing unknown left and every row as head needs it, a purge writes nothing.
    let before = fixture.snapshot();
    let run = fixture.ok(&["db", "stamp", "head", "--purge", "--force"]);
    assert!(run.stdout.starts_with("Nothing to stamp"), "{}", run.all());
    assert_eq!(fixture.snapshot(), before);
}

#[test]
fn check_passes_at_head_of_the_embedded_migrations() {
    // `db check` also fails on model changes no migration captures, so it can pass only on the
    // migrations written for the models: the ones embedded in the binary.
    let fixture = Fixture::new();
    let embedded = |args: &[&str]| {
        output(
            fixture
                .workhub()
                .env_remove("WORKHUB_MIGRATIONS_DIR")
                .args(args),
        )
    };
    embedded(&["db", "upgrade"]).expect_code(0);
    let run = embedded(&["db", "check"]);
    run.expect_code(0);
    assert!(run.stdout.contains("is at head"), "{}", run.stdout);
}

#[test]
fn check_fails_on_pending_modified_or_unknown() {
    let fixture = Fixture::with_steps(2);
    fixture.execute("SELECT 1;");
    let pending = fixture.run(&["db", "check"]);
    pending.expect_failure(1, &["check failed", "hint:"]);
    for n in 1..=2 {
        assert!(
            pending
                .stdout
                .contains(&format!("pending: {}", step_folder(n))),
            "{}",
            pending.stdout
        );
    }

    fixture.ok(&["db", "upgrade"]);
    let at_head = fixture.run(&["db", "check"]);
    assert!(!at_head.stdout.contains("pending: "), "{}", at_head.stdout);

    let up = fixture.migrations().join(step_folder(2)).join("up.sql");
    std::fs::write(
        &up,
        "CREATE TABLE t02 (id INTEGER PRIMARY KEY, name TEXT);\n",
    )
    .unwrap();
    let modified = fixture.run(&["db", "check"]);
    modified.expect_failure(1, &["check failed"]);
    assert!(
        modified
            .stdout
            .contains(&format!("modified since applied: {}", step_folder(2))),
        "{}",
        modified.stdout
    );

    std::fs::remove_dir_all(fixture.migrations().join(step_folder(2))).unwrap();
    let unknown = fixture.run(&["db", "check"]);
    unknown.expect_failure(1, &["check failed"]);
    assert!(
        unknown.stdout.contains(&format!(
            "applied but unknown to this binary: {}",
            step_folder(2)
        )),
        "{}",
        unknown.stdout
    );
}

#[test]
fn repair_records_the_checksum_of_a_deliberate_edit() {
    let fixture = Fixture::with_steps(2);
    fixture.ok(&["db", "upgrade"]);
    let up = fixture.migrations().join(step_folder(1)).join("up.sql");
    let edited = format!(
        "-- t01 holds one row per thing\n{}",
        std::fs::read_to_string(&up).unwrap()
    );
    std::fs::write(&up, &edited).unwrap();
    fixture.run(&["db", "check"]).expect_code(1);

    let run = fixture.ok(&["db", "repair"]);
    assert_eq!(
        run.stdout.trim(),
        format!("recorded the current checksum of {}", step_folder(1))
    );
    let snapshot = fixture.snapshot();
    assert_eq!(
        snapshot.workhub_rows[0][2].as_deref(),
        Some(checksum(&edited).as_str())
    );
    assert_eq!(
        snapshot.tables(),
        tables(1..=2),
        "repair runs no migration SQL"
    );
    fixture.assert_at_head();

    let again = fixture.ok(&["db", "repair"]);
    assert!(
        again.stdout.contains("Nothing to repair"),
        "{}",
        again.stdout
    );
    assert_eq!(fixture.snapshot(), snapshot);
}

#[test]
fn reset_deletes_the_sqlite_file_and_rebuilds_it() {
    let fixture = Fixture::with_steps(2);
    fixture.ok(&["db", "upgrade", "+1"]);
    fixture.execute("INSERT INTO t01 (id) VALUES (7); CREATE TABLE scratch (x INTEGER);");

    let run = fixture.ok(&["db", "reset"]);
    assert!(
        run.stdout
            .contains(&format!("Deleted {}", fixture.db().display())),
        "{}",
        run.stdout
    );
    let snapshot = fixture.snapshot();
    assert_eq!(
        snapshot.tables(),
        tables(1..=2),
        "scratch is gone, every migration applied"
    );
    assert_eq!(snapshot.folders(), folders(1..=2));
    fixture.assert_at_head();
    assert_eq!(
        fixture.count("t01"),
        0,
        "the row inserted before the reset went with the old file"
    );
}

/// Through a symlink, reset deletes and rebuilds the file the link names, and the link stays.
#[test]
fn reset_through_a_symlink_rebuilds_the_file_it_names() {
    let fixture = Fixture::with_steps(2);
    fixture.ok(&["db", "upgrade", "+1"]);
    fixture.execute("INSERT INTO t01 (id) VALUES (7);");
    let link = fixture.dir.path().join("link.db");
    std::os::unix::fs::symlink(fixture.db(), &link).unwrap();

    let run = output(
        fixture
            .workhub()
            .env("DATABASE_URL", &link)
            .args(["db", "reset"]),
    );
    run.expect_code(0);
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link was replaced"
    );
    assert_eq!(
        fixture.count("t01"),
        0,
        "the file the link names was rebuilt"
    );
    fixture.assert_at_head();
}

#[test]
fn reset_is_refused_in_production() {
    let fixture = Fixture::with_steps(1);
    fixture.ok(&["db", "upgrade"]);
    fixture.execute("INSERT INTO t01 (id) VALUES (7);");
    let before = fixture.snapshot();
    let run = output(
        fixture
            .workhub()
            .env("WORKHUB_ENV", "production")
            .args(["db", "reset"]),
    );
    run.expect_failure(
        1,
        &["refused in production", "WORKHUB_ENV=production", "hint:"],
    );
    assert_eq!(fixture.snapshot(), before);
    assert_eq!(fixture.count("t01"), 1);
}

#[test]
fn migrate_only_applies_everything_and_exits() {
    let fixture = Fixture::with_steps(3);
    let run = output(
        fixture
            .workhub()
            .env("WORKHUB_ENV", "production")
            .arg("--migrate-only"),
    );
    run.expect_code(0);
    assert!(
        run.stdout.contains("Applied 3 migrations"),
        "{}",
        run.stdout
    );
    assert_eq!(fixture.applied(), folders(1..=3));

    fixture.step(4);
    let run = fixture.ok(&["--migrate-only"]);
    assert!(
        run.stdout.contains("Applied 1 migration "),
        "{}",
        run.stdout
    );
    let run = fixture.ok(&["--migrate-only"]);
    assert!(run.stdout.contains("Nothing to apply"), "{}", run.stdout);
    assert_eq!(fixture.snapshot().tables(), tables(1..=4));
}

/// The value an earlier build (from 03bd9e8) could have left in `PRAGMA user_version` (its head fingerprint).
const OLD_FINGERPRINT: i32 = 0x1234_5678;

/// Whatever was done to the file (a backup restored, a copy, VACUUM, another tool reverting a
/// migration, a hand-made DELETE), `--migrate-only` reads the history and applies what is missing: a
/// value an older build left in `user_version` is never trusted.
#[test]
fn migrate_only_never_reports_nothing_to_apply_with_a_migration_pending() {
    type Mutation = fn(&Fixture) -> std::path::PathBuf;
    fn revert_two_data_migrations(fixture: &Fixture) {
        // What `diesel migration revert -n 2` does: down.sql, then the version row.
        fixture.execute(
            "DELETE FROM t01 WHERE id IN (7, 8); \
             DELETE FROM __diesel_schema_migrations WHERE version IN ('20240101000002', '20240101000003');",
        );
    }
    let cases: [(&str, Mutation); 4] = [
        (
            "another tool reverted two data-only migrations",
            |fixture| {
                revert_two_data_migrations(fixture);
                fixture.db()
            },
        ),
        ("a backup restored, then two reverted", |fixture| {
            let copy = fixture.dir.path().join("copy.db");
            fixture.execute(&format!("VACUUM INTO '{}'", copy.display()));
            std::fs::rename(&copy, fixture.db()).unwrap();
            revert_two_data_migrations(fixture);
            fixture.db()
        }),
        ("VACUUM, then two reverted by hand", |fixture| {
            fixture.execute("VACUUM;");
            revert_two_data_migrations(fixture);
            fixture.db()
        }),
        ("a file copy with two reverted", |fixture| {
            revert_two_data_migrations(fixture);
            let copy = fixture.dir.path().join("copied.db");
            std::fs::copy(fixture.db(), &copy).unwrap();
            copy
        }),
    ];
    for (case, mutate) in cases {
        let fixture = Fixture::with_steps(1);
        for (n, id) in [(2, 7), (3, 8)] {
            fixture.migration(
                &format!("2024-01-01-00000{n}_seed_{id}"),
                &format!("INSERT INTO t01 (id) VALUES ({id});\n"),
                Some(&format!("DELETE FROM t01 WHERE id = {id};\n")),
            );
        }
        fixture.ok(&["--migrate-only"]);
        fixture.execute(&format!("PRAGMA user_version = {OLD_FINGERPRINT};"));
        let db = mutate(&fixture);

        let run = output(
            fixture
                .workhub()
                .env("DATABASE_URL", &db)
                .arg("--migrate-only"),
        );
        run.expect_code(0);
        assert!(
            run.stdout.contains("Applied 2 migrations"),
            "{case}: {}",
            run.stdout
        );
        let snapshot = common::Snapshot::of(&db);
        assert_eq!(snapshot.versions().len(), 3, "{case}");
        assert_eq!(
            snapshot.user_version, 0,
            "{case}: a history change clears an old build's fingerprint"
        );
    }
}

/// An older build trusted a fingerprint in `user_version`: every change of the history by this
/// build clears it, in the same transaction, so an old binary is never misled; a refusal, a no-op
/// and a rolled-back run leave it as it was.
#[test]
fn every_change_of_the_history_clears_user_version_and_nothing_else_does() {
    let fixture = Fixture::with_steps(1);
    let seed = fixture.migration(
        "2024-01-01-000002_seed",
        "INSERT INTO t01 (id) VALUES (7);\n",
        Some("DELETE FROM t01 WHERE id = 7;\n"),
    );
    std::fs::write(seed.join("metadata.toml"), "run_in_transaction = false\n").unwrap();
    fixture.ok(&["db", "upgrade", "+1"]);
    let mark = || fixture.execute(&format!("PRAGMA user_version = {OLD_FINGERPRINT};"));

    // A no-op and a refusal change nothing, user_version included.
    mark();
    fixture.ok(&["db", "upgrade", "+1"]);
    fixture.ok(&["db", "downgrade"]);
    mark();
    let before = fixture.snapshot();
    fixture.ok(&["db", "repair"]);
    fixture
        .run(&["db", "upgrade", "+5"])
        .expect_failure(1, &["only 1 pending"]);
    assert_eq!(fixture.snapshot(), before);

    // A data-only migration outside a transaction, a downgrade, a stamp and a repair each clear it.
    let changes: [&[&str]; 4] = [
        &["db", "upgrade"],
        &["db", "downgrade"],
        &["db", "stamp", "base", "--force"],
        &["db", "stamp", "head"],
    ];
    for args in changes {
        mark();
        fixture.ok(args);
        assert_eq!(fixture.user_version(), 0, "`{}`", args.join(" "));
    }
    fixture.execute("DELETE FROM __workhub_migrations;");
    mark();
    fixture.ok(&["db", "repair"]);
    assert_eq!(fixture.user_version(), 0, "db repair");

    // A failing migration rolls back the reset with itself, in either mode.
    fixture.migration(
        "2024-01-01-000003_broken",
        "CREATE TABLE t03 (id INTEGER);\nINSERT INTO no_such_table VALUES (1);\n",
        None,
    );
    mark();
    let before = fixture.snapshot();
    for mode in ["each", "all"] {
        fixture
            .run(&["db", "upgrade", "--transaction", mode])
            .expect_failure(1, &["no such table", "rolled back"]);
        assert_eq!(fixture.snapshot(), before, "--transaction {mode}");
    }
}

/// With nothing to do, `--migrate-only` writes nothing: not the file, not a lock note beside it.
#[test]
fn a_no_op_migrate_only_writes_nothing() {
    let fixture = Fixture::with_steps(2);
    fixture.ok(&["--migrate-only"]);
    let bytes = std::fs::read(fixture.db()).unwrap();
    let files = fixture.files();
    let run = fixture.ok(&["--migrate-only"]);
    assert!(
        run.stdout.contains(&format!(
            "Nothing to apply: {} is at {} ({}, head).",
            fixture.db().display(),
            step_version(2),
            step_folder(2)
        )),
        "{}",
        run.stdout
    );
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    assert_eq!(std::fs::read(fixture.db()).unwrap(), bytes);
    assert_eq!(fixture.files(), files);
}

#[test]
fn transaction_all_is_all_or_nothing() {
    let fixture = Fixture::with_steps(2);
    fixture.migration(
        "2024-01-01-000003_broken",
        "CREATE TABLE t03 (id INTEGER);\nINSERT INTO no_such_table VALUES (1);\n",
        Some("DROP TABLE t03;"),
    );
    let run = fixture.run(&["db", "upgrade", "--transaction", "all"]);
    run.expect_failure(
        1,
        &[
            "2024-01-01-000003_broken",
            "INSERT INTO no_such_table VALUES (1)",
            "no such table",
            "whole run was rolled back",
        ],
    );
    let snapshot = fixture.snapshot();
    assert_eq!(snapshot.tables(), Vec::<String>::new());
    assert!(
        snapshot.versions().is_empty() && snapshot.workhub_rows.is_empty(),
        "{snapshot:?}"
    );

    // Without the flag, the two good migrations commit and only the broken one rolls back.
    fixture.run(&["db", "upgrade"]).expect_code(1);
    assert_eq!(fixture.applied(), folders(1..=2));

    // A successful --transaction all run applies everything, and a downgrade works the same way.
    std::fs::write(
        fixture
            .migrations()
            .join("2024-01-01-000003_broken")
            .join("up.sql"),
        "CREATE TABLE t03 (id INTEGER);",
    )
    .unwrap();
    fixture.ok(&["db", "upgrade", "--transaction", "all"]);
    assert_eq!(fixture.snapshot().tables(), tables(1..=3));
    fixture.ok(&["db", "downgrade", "base", "--transaction", "all"]);
    assert_eq!(fixture.snapshot().tables(), Vec::<String>::new());
}

#[test]
fn transaction_all_is_refused_with_a_migration_outside_transactions() {
    let fixture = Fixture::with_steps(1);
    fixture.ok(&["db", "upgrade"]);
    let folder = fixture.step(2);
    std::fs::write(
        fixture.migrations().join(&folder).join("metadata.toml"),
        "run_in_transaction = false\n",
    )
    .unwrap();
    fixture.step(3);
    let before = fixture.snapshot();

    let run = fixture.run(&["db", "upgrade", "--transaction", "all"]);
    run.expect_failure(1, &[&folder, "run_in_transaction = false", "hint:"]);
    assert!(!run.stderr.contains(&step_folder(3)), "{}", run.stderr);
    assert_eq!(fixture.snapshot(), before);

    // Each migration in its own transaction (the default) runs it.
    fixture.ok(&["db", "upgrade"]);
    assert_eq!(fixture.applied(), folders(1..=3));
}

#[test]
fn create_empty_writes_a_timestamped_template() {
    let fixture = Fixture::with_steps(1);
    let run = fixture.ok(&["db", "create", "add_widgets", "--empty"]);
    let created: Vec<String> = std::fs::read_dir(fixture.migrations())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != &step_folder(1) && name != "lineage.head")
        .collect();
    assert_eq!(created.len(), 1, "{created:?}");
    let folder = &created[0];
    let head = std::fs::read_to_string(fixture.migrations().join("lineage.head")).unwrap();
    assert_eq!(
        head,
        format!("{folder}\n"),
        "the head file names the new migration"
    );
    let parsed =
        workhub_migrations::source::FolderName::parse(folder).expect("a valid folder name");
    assert_eq!(parsed.name, "add_widgets");
    assert!(
        parsed.version > step_version(1),
        "{folder} sorts after the existing migration"
    );
    assert!(run.stdout.contains(folder.as_str()), "{}", run.stdout);
    for file in ["up.sql", "down.sql"] {
        assert!(
            fixture.migrations().join(folder).join(file).is_file(),
            "{folder}/{file}"
        );
    }
}

#[test]
fn create_empty_writes_the_first_migration_of_a_new_directory() {
    let fixture = Fixture::new();
    let fresh = fixture.dir.path().join("db").join("migrations");
    let run = output(
        fixture
            .workhub()
            .env("WORKHUB_MIGRATIONS_DIR", &fresh)
            .args(["db", "create", "first", "--empty"]),
    );
    run.expect_code(0);
    let created: Vec<_> = std::fs::read_dir(&fresh)
        .expect("the directory was created")
        .filter(|entry| entry.as_ref().unwrap().file_name() != "lineage.head")
        .collect();
    assert_eq!(created.len(), 1, "{created:?}");
    let folder = created[0]
        .as_ref()
        .unwrap()
        .file_name()
        .to_string_lossy()
        .into_owned();
    assert!(folder.ends_with("_first"), "{folder}");
    assert!(fresh.join(&folder).join("up.sql").is_file());
}

#[test]
fn create_refuses_a_name_that_cannot_name_a_migration() {
    let fixture = Fixture::with_steps(1);
    fixture
        .run(&["db", "create", "42 things", "--empty"])
        .expect_failure(2, &["42 things"]);
    let entries = std::fs::read_dir(fixture.migrations()).unwrap().count();
    assert_eq!(entries, 1, "nothing written");
}

/// A name of several words, given as one argument or as several (as a recipe passes it on), is one
/// name; letters outside ASCII are refused by name rather than dropped.
#[test]
fn create_takes_a_name_of_several_words_and_refuses_non_ascii_letters() {
    let fixture = Fixture::with_steps(1);
    fixture.ok(&["db", "create", "make", "estimate", "not", "null", "--empty"]);
    fixture.ok(&["db", "create", "Add due date!", "--empty"]);
    let mut names: Vec<String> = std::fs::read_dir(fixture.migrations())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != &step_folder(1) && name != "lineage.head")
        .map(|folder| {
            workhub_migrations::source::FolderName::parse(&folder)
                .unwrap()
                .name
        })
        .collect();
    names.sort();
    assert_eq!(names, ["add_due_date", "make_estimate_not_null"]);
    let before = std::fs::read_dir(fixture.migrations()).unwrap().count();
    fixture
        .run(&["db", "create", "Ünïcode & spaces!!", "--empty"])
        .expect_failure(2, &["`Ü`, `ï` are not ASCII", "nothing was written"]);
    assert_eq!(
        std::fs::read_dir(fixture.migrations()).unwrap().count(),
        before
    );
}

/// Each subcommand's help shows its own flags only, examples under the binary's name, the
/// environment it reads and the exit codes; run options given before `db` still count.
#[test]
fn each_subcommand_helps_with_its_own_flags_and_examples() {
    let fixture = Fixture::with_steps(2);
    let current = fixture.run(&["db", "current", "--help"]);
    current.expect_code(0);
    for absent in ["--transaction", "--allow-out-of-order"] {
        assert!(!current.stdout.contains(absent), "{}", current.stdout);
    }
    for present in [
        "workhub db current --verbose",
        "Environment: DATABASE_URL",
        "Exit codes:",
        "--verbose  ",
    ] {
        assert!(
            current.stdout.contains(present),
            "{present}: {}",
            current.stdout
        );
    }
    assert!(
        !current.stdout.contains("WORKHUB_MIGRATIONS_DIR="),
        "{}",
        current.stdout
    );
    let upgrade = fixture.run(&["db", "upgrade", "--help"]);
    for present in [
        "--transaction <each|all>",
        "--allow-out-of-order",
        "workhub db upgrade +1",
    ] {
        assert!(
            upgrade.stdout.contains(present),
            "{present}: {}",
            upgrade.stdout
        );
    }
    // Before the subcommand, as earlier builds took them, they still apply.
    let run = fixture.run(&["--transaction", "all", "db", "upgrade"]);
    run.expect_code(0);
    assert_eq!(fixture.applied(), folders(1..=2));
}

/// `--format json` on `current`, `history` and an upgrade's `--plan`: one JSON object of the
/// documented shape, with each migration's state; a plan runs nothing.
#[test]
fn current_and_history_speak_json_for_programs() {
    let fixture = Fixture::with_steps(3);
    let parse = |args: &[&str]| -> serde_json::Value {
        let run = fixture.ok(args);
        serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
    };
    fixture.ok(&["db", "upgrade", "+1"]);
    let at_base_plus_one = parse(&["db", "current", "--format", "json"]);
    assert_eq!(at_base_plus_one["format"], "workhub-status/1");
    assert_eq!(at_base_plus_one["current"]["folder"], step_folder(1));
    assert_eq!(at_base_plus_one["head"]["folder"], step_folder(3));
    assert_eq!(at_base_plus_one["pending"], 2);
    assert_eq!(at_base_plus_one["at_head"], false);
    assert!(at_base_plus_one.get("migrations").is_none());

    // The plan of an upgrade, run by nothing.
    let plan = parse(&["db", "upgrade", "--plan", "--format", "json"]);
    assert_eq!(plan["format"], "workhub-plan/1");
    assert_eq!(plan["direction"], "upgrade");
    assert_eq!(plan["current"], step_folder(1));
    let steps: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["folder"].as_str().unwrap())
        .collect();
    assert_eq!(steps, [step_folder(2), step_folder(3)]);
    assert_eq!(fixture.applied(), folders(1..=1));
    let text = fixture.ok(&["db", "downgrade", "base", "--plan"]).stdout;
    assert!(
        text.contains("would revert 1 migration (nothing was run)"),
        "{text}"
    );
    assert_eq!(fixture.applied(), folders(1..=1));

    fixture.ok(&["db", "upgrade", "+1"]);
    // The first one edited after it was applied.
    let up = fixture.migrations().join(step_folder(1)).join("up.sql");
    std::fs::write(
        &up,
        "CREATE TABLE t01 (id INTEGER PRIMARY KEY, edited INTEGER);\n",
    )
    .unwrap();
    let history = parse(&["db", "history", "--format", "json"]);
    let states: Vec<(&str, &str)> = history["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["folder"].as_str().unwrap(), m["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            (step_folder(1).as_str(), "modified"),
            (step_folder(2).as_str(), "applied"),
            (step_folder(3).as_str(), "pending"),
        ]
    );
    let second = &history["migrations"][1];
    assert_eq!(second["current"], true);
    assert_eq!(second["checksum"], second["recorded_checksum"]);
    assert_eq!(history["modified"], 1);
    // check in JSON: the same verdict, and the same exit code.
    let run = fixture.run(&["db", "check", "--format", "json"]);
    run.expect_code(1);
    let check: serde_json::Value =
        serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {:?}", run.stdout));
    assert_eq!(check["format"], "workhub-check/1");
    assert_eq!(check["ok"], false);
    assert!(
        check["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().contains(&step_folder(1))),
        "{check}"
    );
    assert!(
        history["problems"][0]
            .as_str()
            .is_some_and(|p| p.contains(&step_folder(1))),
        "{history}"
    );
}

/// `--sql` prints what a run would send, without touching the database; the sqlite3 shell running it
/// leaves a database workhub finds at the target, with nothing to apply and nothing modified, and the
/// printed downgrade takes it back as `db downgrade` would.
#[test]
fn offline_sql_run_by_sqlite3_leaves_what_workhub_would() {
    let test = "offline_sql_run_by_sqlite3_leaves_what_workhub_would";
    let Some(sqlite3) = common::tool(test, "sqlite3") else {
        return;
    };
    let fixture = Fixture::with_steps(3);
    let shell = |sql: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new(&sqlite3)
            .arg(fixture.db())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(sql.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let up = fixture.ok(&["db", "upgrade", "--sql", "+2"]).stdout;
    assert!(!fixture.db().exists(), "--sql connects to nothing");
    assert!(
        up.contains(".bail on") && up.contains("BEGIN IMMEDIATE;"),
        "{up}"
    );
    shell(&up);
    assert_eq!(fixture.applied(), folders(1..=2));
    // Where the database stands is said, not asked: from the second migration to head.
    let rest = fixture
        .ok(&[
            "db",
            "upgrade",
            "--sql",
            &format!("{}:head", step_version(2)),
        ])
        .stdout;
    assert!(
        !rest.contains("CREATE TABLE IF NOT EXISTS __diesel"),
        "{rest}"
    );
    shell(&rest);
    let upgrade = fixture.ok(&["db", "upgrade"]);
    assert!(
        upgrade.stdout.starts_with("Nothing to apply"),
        "{upgrade:?}"
    );
    fixture.ok(&["db", "check"]);
    let down = fixture.ok(&["db", "downgrade", "--sql", "head:-2"]).stdout;
    shell(&down);
    assert_eq!(fixture.applied(), folders(1..=1));
}

/// `--sql` refuses what it cannot print, changing nothing: FROM without --sql, a FROM that is not a
/// revision, an unknown revision, `--resume`, and one transaction over a migration that needs its
/// own.
#[test]
fn offline_sql_refuses_what_it_cannot_print() {
    let fixture = Fixture::with_steps(2);
    fixture
        .run(&["db", "upgrade", "base:head"])
        .expect_failure(2, &["only --sql takes", "nothing was run"]);
    fixture
        .run(&["db", "upgrade", "--sql", "+1:head"])
        .expect_failure(2, &["FROM is a revision"]);
    fixture
        .run(&["db", "upgrade", "--sql", "base:29990101000000"])
        .expect_code(2);
    // A resume reads the run record in the database; a script cannot.
    for direction in ["upgrade", "downgrade"] {
        fixture
            .run(&["db", direction, "--sql", "--resume"])
            .expect_failure(
                2,
                &["--resume", "--sql", "nothing was printed", "db repair"],
            );
    }
    // MySQL runs only SQL written for it.
    fixture
        .run(&["db", "downgrade", "--sql", "--dialect", "mysql"])
        .expect_failure(1, &["no down.mysql.sql", "nothing was run"]);
    let alone = fixture.migration(
        "2024-01-01-000003_alone",
        "CREATE INDEX t01_id ON t01 (id);\n",
        Some("DROP INDEX t01_id;\n"),
    );
    std::fs::write(alone.join("metadata.toml"), "run_in_transaction = false\n").unwrap();
    fixture
        .run(&["db", "upgrade", "--sql", "--transaction", "all"])
        .expect_failure(1, &["2024-01-01-000003_alone"]);
    assert!(!fixture.db().exists(), "nothing was created");
}

/// On a terminal, `db create` without a name asks for one, and asks again after an empty answer.
#[test]
fn create_asks_again_after_an_empty_name() {
    let test = "create_asks_again_after_an_empty_name";
    let Some(script) = common::tool(test, "script") else {
        return;
    };
    let fixture = Fixture::with_steps(1);
    // `script` gives the command a terminal; the answers are typed into it.
    let mut command = std::process::Command::new(script);
    let workhub = env!("CARGO_BIN_EXE_workhub");
    command
        .args(["-qec", &format!("{workhub} db create --empty"), "/dev/null"])
        .env("DATABASE_URL", fixture.db())
        .env("WORKHUB_MIGRATIONS_DIR", fixture.migrations())
        .current_dir(fixture.dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("run script");
    {
        use std::io::Write;
        let stdin = child.stdin.as_mut().unwrap();
        stdin.write_all(b"\n   \nasked twice\n").unwrap();
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.matches("Migration name").count(), 3, "{stdout}");
    let created = std::fs::read_dir(fixture.migrations())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .any(|name| name.ends_with("_asked_twice"));
    assert!(created, "{stdout}");
}

/// The outside report's case, with the real tools: a database at head (carrying an old build's
/// fingerprint) is copied with `sqlite3 .backup`, and `diesel migration revert -n 2` reverts two
/// data-only migrations on the copy; `--migrate-only` applies both again.
#[test]
fn a_restored_backup_reverted_by_diesel_cli_is_migrated_again() {
    let test = "a_restored_backup_reverted_by_diesel_cli_is_migrated_again";
    let (Some(sqlite3), Some(diesel)) =
        (common::tool(test, "sqlite3"), common::tool(test, "diesel"))
    else {
        return;
    };
    let fixture = Fixture::with_steps(3);
    for (n, id) in [(4, 7), (5, 8)] {
        fixture.migration(
            &format!("2024-01-01-00000{n}_seed_{id}"),
            &format!("INSERT INTO t01 (id) VALUES ({id});\n"),
            Some(&format!("DELETE FROM t01 WHERE id = {id};\n")),
        );
    }
    fixture.ok(&["--migrate-only"]);
    fixture.execute(&format!("PRAGMA user_version = {OLD_FINGERPRINT};"));
    let copy = fixture.dir.path().join("copy.db");
    let backup = std::process::Command::new(sqlite3)
        .arg(fixture.db())
        .arg(format!(".backup '{}'", copy.display()))
        .output()
        .unwrap();
    assert!(backup.status.success(), "{backup:?}");
    let revert = std::process::Command::new(diesel)
        .args(["migration", "revert", "-n", "2", "--database-url"])
        .arg(&copy)
        .arg("--migration-dir")
        .arg(fixture.migrations())
        .current_dir(fixture.dir.path())
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(revert.status.success(), "{revert:?}");

    let run = output(
        fixture
            .workhub()
            .env("DATABASE_URL", &copy)
            .arg("--migrate-only"),
    );
    run.expect_code(0);
    assert!(
        run.stdout.contains("Applied 2 migrations"),
        "{}",
        run.stdout
    );
    let snapshot = common::Snapshot::of(&copy);
    assert_eq!(snapshot.versions().len(), 5);
    assert_eq!(snapshot.user_version, 0);
}

/// "Unchanged" in these tests covers the data: a snapshot sees a row changed, added or removed.
#[test]
fn a_snapshot_sees_every_row_of_the_user_tables() {
    let fixture = Fixture::with_steps(1);
    fixture.ok(&["db", "upgrade"]);
    fixture.execute("INSERT INTO t01 (id) VALUES (1);");
    let before = fixture.snapshot();
    assert_eq!(
        before.rows,
        vec![("t01".to_string(), vec!["1".to_string()])]
    );
    fixture.execute("UPDATE t01 SET id = 2;");
    assert_ne!(fixture.snapshot(), before);
}
