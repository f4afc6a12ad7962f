//! Every way a `workhub` command refuses, case by case: the exit code (1 failure, 2 usage, 3 the
//! database cannot be reached), a message
//! naming what is at fault with a hint, and a database left exactly as it was.

mod common;

use common::{output, step_folder, step_version, Fixture};

/// A database with steps 1 and 2 of 4 applied: the state most refusals start from.
fn half_applied() -> Fixture {
    let fixture = Fixture::with_steps(4);
    fixture.ok(&["db", "upgrade", "+2"]);
    fixture
}

/// Runs `args`, expects the failure, and checks that the database did not change.
fn refused(fixture: &Fixture, args: &[&str], code: i32, needles: &[&str]) -> common::Run {
    let before = fixture.snapshot();
    let run = fixture.run(args);
    run.expect_failure(code, needles);
    assert_eq!(
        fixture.snapshot(),
        before,
        "`workhub {}` changed the database",
        args.join(" ")
    );
    run
}

#[test]
fn an_ambiguous_prefix_lists_the_candidates() {
    let fixture = Fixture::new();
    for folder in [
        "2024-03-01-100000_first",
        "2024-03-02-100000_second",
        "2024-04-01-100000_third",
    ] {
        fixture.migration(
            folder,
            "CREATE TABLE x (id INTEGER);",
            Some("DROP TABLE x;"),
        );
    }
    fixture.ok(&["db", "stamp", "base"]);
    let run = refused(
        &fixture,
        &["db", "upgrade", "202403"],
        2,
        &[
            "`202403` matches 2 migrations",
            "2024-03-01-100000_first",
            "2024-03-02-100000_second",
            "hint:",
        ],
    );
    assert!(!run.stderr.contains("third"), "{}", run.stderr);
    refused(
        &fixture,
        &["db", "stamp", "2024-03"],
        2,
        &["matches 2 migrations", "hint:"],
    );
}

#[test]
fn an_unknown_target_is_refused() {
    let fixture = half_applied();
    for args in [
        &["db", "upgrade", "no_such_migration"][..],
        &["db", "downgrade", "20990101000000"],
        &["db", "stamp", "nothing_like_this"],
    ] {
        let target = args[2];
        refused(
            &fixture,
            args,
            2,
            &[
                &format!("no migration matches `{target}`"),
                "hint:",
                "db history",
            ],
        );
    }
}

#[test]
fn a_target_out_of_range_runs_nothing() {
    let fixture = half_applied();
    refused(
        &fixture,
        &["db", "upgrade", "+5"],
        1,
        &["`+5` goes past the end: only 2 pending", "nothing was run"],
    );
    refused(
        &fixture,
        &["db", "downgrade", "-3"],
        1,
        &["`-3` goes past the end: only 2 applied", "nothing was run"],
    );

    let one_applied = Fixture::with_steps(2);
    one_applied.ok(&["db", "upgrade", "+1"]);
    refused(
        &one_applied,
        &["db", "downgrade", "-3"],
        1,
        &["only 1 applied"],
    );
    refused(
        &one_applied,
        &["db", "upgrade", "+5"],
        1,
        &["only 1 pending"],
    );
}

#[test]
fn a_target_in_the_wrong_direction_is_refused() {
    let fixture = half_applied();
    refused(
        &fixture,
        &["db", "upgrade", "-1"],
        2,
        &[
            "`-1`",
            "upgrade only goes forward",
            "workhub db downgrade -1",
        ],
    );
    refused(
        &fixture,
        &["db", "upgrade", "base"],
        2,
        &["workhub db downgrade base"],
    );
    refused(
        &fixture,
        &["db", "downgrade", "+1"],
        2,
        &["`+1`", "downgrade only goes back", "workhub db upgrade"],
    );
    refused(
        &fixture,
        &["db", "downgrade", "head"],
        2,
        &["downgrade only goes back"],
    );
    let pending = step_version(4);
    refused(
        &fixture,
        &["db", "downgrade", &pending],
        1,
        &[&step_folder(4), "is not applied", "workhub db upgrade"],
    );
    let behind = step_version(1);
    refused(
        &fixture,
        &["db", "upgrade", &behind],
        1,
        &["already past", &step_folder(1), "workhub db downgrade"],
    );
}

#[test]
fn a_failing_migration_rolls_back_itself_only_and_names_the_statement() {
    let fixture = Fixture::with_steps(2);
    fixture.migration(
        "2024-01-01-000003_broken",
        "CREATE TABLE t03 (id INTEGER);\n-- the mistake:\nINSERT INTO no_such_table (id) VALUES (1);\nCREATE TABLE never (id INTEGER);\n",
        Some("DROP TABLE t03;"),
    );
    fixture.step(4);
    let run = fixture.run(&["db", "upgrade"]);
    run.expect_failure(
        1,
        &[
            "migration 2024-01-01-000003_broken (up) failed",
            "no such table: no_such_table",
            "INSERT INTO no_such_table (id) VALUES (1)",
            "the migration was rolled back; migrations before it in this run stay applied",
        ],
    );
    assert!(
        !run.stderr.contains("CREATE TABLE never"),
        "only the failing statement is shown:\n{}",
        run.stderr
    );
    let snapshot = fixture.snapshot();
    assert_eq!(
        snapshot.tables(),
        vec!["t01", "t02"],
        "t03 rolled back with its migration, step 4 never ran"
    );
    assert_eq!(snapshot.folders(), vec![step_folder(1), step_folder(2)]);
    assert_eq!(snapshot.versions(), vec![step_version(1), step_version(2)]);
}

#[test]
fn a_failing_down_migration_rolls_back_itself_only() {
    let fixture = Fixture::with_steps(2);
    fixture.migration(
        "2024-01-01-000003_bad_down",
        "CREATE TABLE t03 (id INTEGER);",
        Some("DROP TABLE t03;\nDROP TABLE no_such_table;"),
    );
    fixture.ok(&["db", "upgrade"]);
    let run = fixture.run(&["db", "downgrade", "base"]);
    run.expect_failure(
        1,
        &[
            "migration 2024-01-01-000003_bad_down (down) failed",
            "DROP TABLE no_such_table",
            "no such table",
        ],
    );
    assert_eq!(fixture.snapshot().tables(), vec!["t01", "t02", "t03"]);
    assert_eq!(fixture.applied().len(), 3);
}

#[test]
fn a_modified_applied_migration_is_refused_by_name() {
    let fixture = half_applied();
    let up = fixture.migrations().join(step_folder(1)).join("up.sql");
    std::fs::write(
        &up,
        "CREATE TABLE t01 (id INTEGER PRIMARY KEY, added TEXT);\n",
    )
    .unwrap();
    for args in [
        &["db", "upgrade"][..],
        &["db", "downgrade"],
        &["--migrate-only"],
    ] {
        refused(
            &fixture,
            args,
            1,
            &[
                "applied migrations were modified after they ran",
                &step_folder(1),
                "hint:",
                "workhub db repair",
            ],
        );
    }
}

#[test]
fn an_applied_version_unknown_to_the_binary_is_refused_naming_both() {
    let fixture = Fixture::with_steps(3);
    fixture.ok(&["db", "upgrade"]);
    std::fs::remove_dir_all(fixture.migrations().join(step_folder(3))).unwrap();
    for args in [
        &["db", "upgrade"][..],
        &["db", "downgrade"],
        &["--migrate-only"],
    ] {
        refused(
            &fixture,
            args,
            1,
            &[
                "the database has applied migrations this binary does not know",
                &step_folder(3),
                &format!("this binary's newest migration is {}", step_folder(2)),
                "hint:",
            ],
        );
    }
}

#[test]
fn an_out_of_order_pending_migration_needs_the_flag() {
    let fixture = Fixture::new();
    fixture.step(1);
    fixture.step(3);
    fixture.ok(&["db", "upgrade"]);
    let late = fixture.step(2);
    refused(
        &fixture,
        &["db", "upgrade"],
        1,
        &[
            &late,
            &format!("older than the newest applied one ({})", step_folder(3)),
            "--allow-out-of-order",
        ],
    );
    let run = fixture.ok(&["db", "upgrade", "--allow-out-of-order"]);
    assert!(
        run.stdout.contains(&format!("applied {late}")),
        "{}",
        run.stdout
    );
    assert_eq!(fixture.snapshot().tables(), vec!["t01", "t02", "t03"]);
}

#[test]
fn a_downgrade_through_a_migration_without_down_sql_runs_nothing() {
    let fixture = Fixture::new();
    fixture.migration(
        "2024-01-01-000001_one_way",
        "CREATE TABLE t01 (id INTEGER);",
        None,
    );
    fixture.step(2);
    fixture.ok(&["db", "upgrade"]);
    // Step 2 would be reverted first; it must not be, since step 1 cannot follow.
    refused(
        &fixture,
        &["db", "downgrade", "base"],
        1,
        &[
            "cannot downgrade",
            "2024-01-01-000001_one_way",
            "no down.sql",
            "nothing was run",
        ],
    );
    refused(
        &fixture,
        &["db", "downgrade", "-2"],
        1,
        &["2024-01-01-000001_one_way"],
    );
    fixture.ok(&["db", "downgrade"]);
    assert_eq!(fixture.applied(), vec!["2024-01-01-000001_one_way"]);
}

#[test]
fn a_bad_database_url_scheme_is_a_usage_error() {
    let fixture = half_applied();
    let before = fixture.snapshot();
    let run = output(
        fixture
            .workhub()
            .env("DATABASE_URL", "oracle://root:supersecret@db.example/app")
            .args(["db", "current"]),
    );
    run.expect_failure(2, &["the scheme `oracle` is not supported", "hint:"]);
    assert!(!run.all().contains("supersecret"), "{}", run.all());
    assert_eq!(fixture.snapshot(), before);
}

#[test]
fn a_password_never_appears_in_any_output() {
    let fixture = Fixture::with_steps(2);
    let commands: [&[&str]; 12] = [
        &["db", "upgrade"],
        &["db", "downgrade"],
        &["db", "current", "-v"],
        &["db", "history", "-v"],
        &["db", "check"],
        &["db", "stamp", "head"],
        &["db", "repair"],
        &["db", "reset"],
        &["--migrate-only"],
        &["serve"],
        &["db", "upgrade", "+0"],
        &["db", "frobnicate"],
    ];
    for url in [
        "postgres://u:supersecret@127.0.0.1:1/db",
        "postgresql://u@127.0.0.1:1/db?password=supersecret&sslmode=disable",
    ] {
        for args in commands {
            let run = output(fixture.workhub().env("DATABASE_URL", url).args(args));
            assert_ne!(
                run.code,
                Some(0),
                "`{}` cannot succeed without a server",
                args.join(" ")
            );
            assert!(
                !run.all().contains("supersecret"),
                "`{}` shows the password:\n{}",
                args.join(" "),
                run.all()
            );
            let run = output(fixture.workhub().arg("--database-url").arg(url).args(args));
            assert!(
                !run.all().contains("supersecret"),
                "`{}` shows the password:\n{}",
                args.join(" "),
                run.all()
            );
        }
    }
    let run = output(
        fixture
            .workhub()
            .env("DATABASE_URL", "postgres://u:supersecret@127.0.0.1:1/db")
            .args(["db", "upgrade"]),
    );
    run.expect_failure(
        3,
        &[
            "cannot open database postgres://u:***@127.0.0.1:1/db",
            "hint:",
        ],
    );
    assert!(!fixture.db().exists());
}

#[test]
fn reset_is_refused_on_postgres() {
    let fixture = Fixture::with_steps(1);
    let run = output(
        fixture
            .workhub()
            .env("DATABASE_URL", "postgres://u:supersecret@127.0.0.1:1/db")
            .args(["db", "reset"]),
    );
    run.expect_failure(
        1,
        &[
            "db reset only deletes a SQLite file",
            "postgres://u:***@127.0.0.1:1/db",
            "hint:",
        ],
    );
}

#[test]
fn a_malformed_workhub_env_is_a_usage_error() {
    let fixture = half_applied();
    let before = fixture.snapshot();
    for args in [
        &["db", "upgrade"][..],
        &["--migrate-only"],
        &["db", "reset"],
        &["serve"],
    ] {
        let run = output(fixture.workhub().env("WORKHUB_ENV", "staging").args(args));
        run.expect_failure(
            2,
            &[
                "WORKHUB_ENV=`staging` is not a mode",
                "hint:",
                "development",
                "production",
            ],
        );
        assert_eq!(fixture.snapshot(), before);
    }
}

#[test]
fn an_invalid_target_is_a_usage_error() {
    let fixture = half_applied();
    for (args, target) in [
        (&["db", "upgrade", "+0"][..], "+0"),
        (&["db", "downgrade", "-0"], "-0"),
        (&["db", "upgrade", "+two"], "+two"),
        (&["db", "stamp", "-x"], "-x"),
    ] {
        refused(
            &fixture,
            args,
            2,
            &[&format!("`{target}` is not a target"), "N at least 1"],
        );
    }
    refused(
        &fixture,
        &["--migrate-only", "db", "current"],
        2,
        &["--migrate-only runs alone"],
    );
    refused(
        &fixture,
        &["db", "upgrade", "--transaction", "some"],
        2,
        &["some"],
    );
    refused(
        &fixture,
        &["--lock-timeout=-1", "db", "upgrade"],
        2,
        &["WORKHUB_LOCK_TIMEOUT must be a number of seconds"],
    );
}

#[test]
fn a_bad_migrations_folder_is_refused_naming_it() {
    let fixture = half_applied();
    // diesel's rule: every folder is a migration and needs an up.sql.
    let bad = fixture.migrations().join("2024-12-01-000000_no_up");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("down.sql"), "SELECT 1;").unwrap();
    refused(
        &fixture,
        &["db", "upgrade"],
        1,
        &["2024-12-01-000000_no_up", "has no up.sql", "hint:"],
    );
    let missing = output(
        fixture
            .workhub()
            .env("WORKHUB_MIGRATIONS_DIR", fixture.dir.path().join("nowhere"))
            .args(["db", "upgrade"]),
    );
    // Where the migrations are is configuration: exit code 2.
    missing.expect_failure(
        2,
        &["cannot read the migrations directory", "nowhere", "hint:"],
    );
}

/// On a SQLite path that does not exist yet, every refusal exits non-zero and leaves nothing behind:
/// no database file, no journal, no lock note.
#[test]
fn a_refusal_on_a_new_sqlite_path_creates_nothing() {
    let fixture = Fixture::with_steps(2);
    fixture.migration(
        "2024-01-01-000003_outside",
        "CREATE TABLE t03 (id INTEGER);\n",
        None,
    );
    std::fs::write(
        fixture
            .migrations()
            .join("2024-01-01-000003_outside/metadata.toml"),
        "run_in_transaction = false\n",
    )
    .unwrap();
    // Exit code 2 for a target that is wrong whatever the database holds, 1 for a refusal.
    let refusals: [(&[&str], &str, i32); 9] = [
        (&["db", "upgrade", "+5"], "only 3 pending", 1),
        (&["db", "downgrade"], "only 0 applied", 1),
        (&["db", "stamp", "+5"], "only 3 pending", 1),
        (
            &["db", "upgrade", "nonsense"],
            "no migration matches `nonsense`",
            2,
        ),
        (
            &["db", "stamp", "nonsense"],
            "no migration matches `nonsense`",
            2,
        ),
        (&["db", "upgrade", "base"], "workhub db downgrade base", 2),
        (&["db", "downgrade", "+1"], "downgrade only goes back", 2),
        (&["db", "downgrade", &step_version(1)], "is not applied", 1),
        (
            &["db", "upgrade", "--transaction", "all"],
            "run_in_transaction = false",
            1,
        ),
    ];
    for (args, needle, code) in refusals {
        let run = fixture.run(args);
        run.expect_failure(code, &[needle, &fixture.db().display().to_string()]);
        assert_eq!(
            fixture.files(),
            Vec::<String>::new(),
            "`workhub {}` left files behind",
            args.join(" ")
        );
    }
    // Nothing to do is not a refusal, and creates nothing either.
    for args in [
        &["db", "stamp", "base"][..],
        &["db", "stamp", "base", "--purge"],
        &["db", "repair"],
    ] {
        fixture.ok(args);
        assert_eq!(fixture.files(), Vec::<String>::new(), "{args:?}");
    }
}

/// `db current`, `db history` and `db check` on a SQLite path that does not exist say so, naming the
/// path and how the database comes to exist, instead of reporting an empty database.
#[test]
fn a_read_only_command_on_a_missing_sqlite_path_fails_naming_it() {
    let fixture = Fixture::with_steps(1);
    for args in [&["db", "current"][..], &["db", "history"], &["db", "check"]] {
        let run = fixture.run(args);
        run.expect_failure(
            3,
            &[
                &format!("no database at {}", fixture.db().display()),
                "the file does not exist",
                "`workhub db upgrade`",
            ],
        );
        assert!(run.stdout.is_empty(), "{}", run.stdout);
        assert_eq!(fixture.files(), Vec::<String>::new());

        let nested = output(
            fixture
                .workhub()
                .env("DATABASE_URL", "missing/dir/x.db")
                .args(args),
        );
        nested.expect_failure(
            3,
            &[
                "no database at missing/dir/x.db",
                "the directory missing/dir does not exist",
                "`workhub db upgrade`",
            ],
        );
        assert!(!nested.stdout.contains("base"), "{}", nested.stdout);
    }
    let upgrade = output(
        fixture
            .workhub()
            .env("DATABASE_URL", "missing/dir/x.db")
            .args(["db", "upgrade"]),
    );
    upgrade.expect_failure(
        3,
        &[
            "missing/dir/x.db",
            "the directory missing/dir does not exist",
            "create the directory, then `workhub db upgrade` creates the database",
        ],
    );
    assert!(!fixture.dir.path().join("missing").exists());
}

/// A file that is not a SQLite database is named, and left exactly as it was.
#[test]
fn a_file_that_is_not_a_database_is_named_and_left_alone() {
    let fixture = Fixture::with_steps(1);
    let text = "these are notes, not a database\n".repeat(200);
    std::fs::write(fixture.db(), &text).unwrap();
    for args in [
        &["db", "upgrade"][..],
        &["--migrate-only"],
        &["db", "current"],
        &["db", "check"],
        &["db", "stamp", "head", "--force"],
        // Without --force, stamp first compares the schema; that read names the file too.
        &["db", "stamp", "head"],
        &["db", "stamp", "head", "--purge"],
        &["db", "repair"],
        &["db", "history"],
        &["db", "downgrade"],
    ] {
        let run = fixture.run(args);
        run.expect_failure(
            1,
            &[
                &format!("{} is not a SQLite database", fixture.db().display()),
                "nothing was changed",
            ],
        );
        assert_eq!(std::fs::read_to_string(fixture.db()).unwrap(), text);
        assert_eq!(fixture.files(), vec!["workhub.db".to_string()]);
    }
}

/// Another connection holding SQLite's write lock (the service, or a tool) is waited for at most
/// WORKHUB_LOCK_TIMEOUT, with a notice; the error says nothing ran and the database is unchanged.
#[test]
fn another_sqlite_writer_is_waited_for_at_most_the_lock_timeout() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;

    let fixture = half_applied();
    let before = fixture.snapshot();
    let mut writer = diesel::SqliteConnection::establish(&fixture.db().to_string_lossy()).unwrap();
    writer
        .batch_execute("BEGIN IMMEDIATE; INSERT INTO t01 (id) VALUES (1);")
        .unwrap();
    for args in [
        &["db", "upgrade"][..],
        &["--migrate-only"],
        &["db", "stamp", "head", "--force"],
    ] {
        let started = std::time::Instant::now();
        let run = output(
            fixture
                .workhub()
                .env("WORKHUB_LOCK_TIMEOUT", "1")
                .args(args),
        );
        let took = started.elapsed();
        run.expect_failure(
            1,
            &[
                &format!(
                    "waiting for another connection to finish writing to {}",
                    fixture.db().display()
                ),
                "gave up after 1.",
                "WORKHUB_LOCK_TIMEOUT",
                "nothing was changed",
            ],
        );
        assert!(
            took < std::time::Duration::from_secs(10),
            "`{}` waited {took:?}",
            args.join(" ")
        );
    }
    writer.batch_execute("ROLLBACK").unwrap();
    assert_eq!(fixture.snapshot(), before);
    fixture.ok(&["db", "upgrade"]);
}

/// A full disk (here: the migration's connection limited to the pages it has) stops the migration,
/// which is rolled back; the message says so, and the history is as it was.
#[test]
fn a_full_disk_rolls_back_the_migration_and_says_so() {
    let fixture = Fixture::with_steps(1);
    fixture.ok(&["db", "upgrade"]);
    fixture.migration(
        "2024-01-01-000002_fill",
        "PRAGMA max_page_count = 1;\nCREATE TABLE big (b BLOB);\nINSERT INTO big VALUES (randomblob(100000));\n",
        Some("DROP TABLE big;\n"),
    );
    let before = fixture.snapshot();
    let run = fixture.run(&["db", "upgrade"]);
    run.expect_failure(
        1,
        &[
            &fixture.db().display().to_string(),
            "2024-01-01-000002_fill (up) failed",
            "full",
            "the migration was rolled back",
        ],
    );
    assert_eq!(fixture.snapshot(), before);
}

/// Applied versions this binary does not know: only when they are newer than its head does the hint
/// blame a newer build; below head they are a renamed or removed folder, or another branch.
#[test]
fn an_unknown_version_below_head_is_not_blamed_on_a_newer_build() {
    let fixture = Fixture::with_steps(3);
    fixture.ok(&["db", "upgrade"]);
    std::fs::remove_dir_all(fixture.migrations().join(step_folder(2))).unwrap();
    for args in [
        &["db", "upgrade"][..],
        &["db", "downgrade"],
        &["--migrate-only"],
    ] {
        let run = refused(
            &fixture,
            args,
            1,
            &[
                &step_folder(2),
                "sort below this binary's newest migration",
                "another branch",
                "`just downgrade`",
                "`just reset`",
                "nothing was run",
            ],
        );
        assert!(!run.stderr.contains("newer binary"), "{}", run.stderr);
    }
    let check = fixture.run(&["db", "check"]);
    check.expect_failure(1, &["check failed"]);
    assert!(
        check.stdout.contains("`just downgrade`"),
        "{}",
        check.stdout
    );
    assert!(!check.all().contains("newer binary"), "{}", check.all());

    let production = output(
        fixture
            .workhub()
            .env("WORKHUB_ENV", "production")
            .args(["db", "upgrade"]),
    );
    production.expect_failure(1, &["renamed or removed", "restore it"]);
}

/// An out-of-order migration: `db current` never calls the database head while it is pending, and
/// `db check` counts it once and hints a command that works.
#[test]
fn an_out_of_order_migration_is_counted_once_with_a_hint_that_works() {
    let fixture = Fixture::new();
    fixture.step(1);
    fixture.step(3);
    fixture.ok(&["db", "upgrade"]);
    let late = fixture.step(2);

    let current = fixture.ok(&["db", "current"]);
    assert!(!current.stdout.contains("head"), "{}", current.stdout);
    assert!(
        current.stdout.contains("1 pending, 1 of them older")
            && current.stdout.contains("--allow-out-of-order"),
        "{}",
        current.stdout
    );

    let before = fixture.snapshot();
    let check = fixture.run(&["db", "check"]);
    check.expect_failure(
        1,
        &[
            "workhub db upgrade --allow-out-of-order",
            "nothing was changed",
        ],
    );
    assert_eq!(
        check.stdout.matches(late.as_str()).count(),
        1,
        "{}",
        check.stdout
    );
    // Fixture migrations never match the models, so check also lists model changes: count them.
    let model_changes = check
        .stdout
        .lines()
        .filter(|l| l.starts_with("model change"))
        .count();
    assert!(
        check
            .stderr
            .contains(&format!("check failed: {} problem", model_changes + 1)),
        "{}",
        check.stderr
    );
    assert_eq!(fixture.snapshot(), before);

    let hinted = fixture.ok(&["db", "upgrade", "--allow-out-of-order"]);
    assert!(
        hinted.stdout.contains(&format!("applied {late}")),
        "{}",
        hinted.stdout
    );
    let current = fixture.ok(&["db", "current"]);
    assert!(current.stdout.contains(", head)"), "{}", current.stdout);
    assert!(!current.stdout.contains("pending"), "{}", current.stdout);
}

/// `db stamp` over a schema the target does not build refuses, naming the database, and records
/// nothing.
#[test]
fn stamp_over_another_schema_names_the_database_and_records_nothing() {
    let fixture = Fixture::with_steps(2);
    fixture.execute("CREATE TABLE unrelated (id INTEGER PRIMARY KEY);");
    let before = fixture.snapshot();
    let run = fixture.run(&["db", "stamp", "head"]);
    run.expect_failure(
        1,
        &[
            &format!(
                "{}: the database's schema differs from what head builds",
                fixture.db().display()
            ),
            "nothing was recorded",
            "--force",
        ],
    );
    assert_eq!(fixture.snapshot(), before);
}

/// The exit code tells a script which kind of failure it met: 3 when the database cannot be reached
/// (a server that does not answer, a host that does not resolve, a SQLite path in a directory that
/// does not exist), 2 for a target that names no migration, 1 when `db check` finds problems.
#[test]
fn exit_codes_tell_an_unreachable_database_from_a_bad_target_from_problems() {
    let fixture = half_applied();
    let before = fixture.snapshot();
    // Nothing listens on port 1; `.invalid` never resolves.
    for url in [
        "postgres://u@127.0.0.1:1/db",
        "postgres://u@no-such-host.invalid/db?connect_timeout=5",
    ] {
        for args in [&["db", "check"][..], &["db", "upgrade"], &["db", "current"]] {
            let run = output(fixture.workhub().env("DATABASE_URL", url).args(args));
            run.expect_failure(
                3,
                &[
                    &format!("cannot open database {url}"),
                    "hint: check --database-url / DATABASE_URL and that the server is running",
                ],
            );
        }
    }
    for args in [
        &["db", "check"][..],
        &["db", "upgrade"],
        &["--migrate-only"],
    ] {
        let run = output(
            fixture
                .workhub()
                .env("DATABASE_URL", "no/such/dir/x.db")
                .args(args),
        );
        run.expect_failure(
            3,
            &[
                "no/such/dir/x.db",
                "the directory no/such/dir does not exist",
                "hint: check --database-url / DATABASE_URL",
                "`workhub db upgrade` creates the database",
            ],
        );
    }
    assert!(!fixture.dir.path().join("no").exists());

    refused(
        &fixture,
        &["db", "upgrade", "20990101000000"],
        2,
        &[
            "no migration matches `20990101000000`",
            "`workhub db history` lists them",
        ],
    );
    let check = fixture.run(&["db", "check"]);
    check.expect_failure(
        1,
        &[
            "check failed",
            "hint: `workhub db upgrade` applies the pending migrations",
        ],
    );
    assert!(
        check
            .stdout
            .contains(&format!("pending: {}", step_folder(3))),
        "{}",
        check.stdout
    );
    assert_eq!(fixture.snapshot(), before);
}

/// `--help` documents the exit codes, at the top and on the `db` commands.
#[test]
fn help_documents_the_exit_codes() {
    let fixture = Fixture::new();
    for args in [
        &["--help"][..],
        &["db", "--help"],
        &["db", "check", "--help"],
        &["db", "upgrade", "--help"],
    ] {
        let help = fixture.ok(args).stdout;
        for needle in [
            "Exit codes: 0 success; 1 problems found",
            "2 usage or configuration",
            "3 the database cannot be reached",
        ] {
            assert!(
                help.contains(needle),
                "{args:?}: {needle:?} not in:\n{help}"
            );
        }
    }
}

/// A revert that fails leaves its migration applied, and the error says so (not "not recorded").
#[test]
fn a_failing_revert_says_its_migration_is_still_applied() {
    let fixture = Fixture::with_steps(1);
    fixture.migration(
        "2024-01-01-000002_bad_revert",
        "CREATE TABLE t02 (id INTEGER);\n",
        Some("DROP TABLE t02;\nDROP TABLE no_such_table;\n"),
    );
    fixture.step(3);
    fixture.ok(&["db", "upgrade"]);
    let run = fixture.run(&["db", "downgrade", "base"]);
    run.expect_failure(
        1,
        &[
            "migration 2024-01-01-000002_bad_revert (down) failed",
            "no such table: no_such_table",
            "the revert was rolled back: the migration is still applied; migrations reverted \
             before it in this run stay reverted",
        ],
    );
    let snapshot = fixture.snapshot();
    assert_eq!(
        snapshot.tables(),
        vec!["t01", "t02"],
        "step 3 reverted, t02 kept"
    );
    assert_eq!(
        snapshot.folders(),
        vec![step_folder(1), "2024-01-01-000002_bad_revert".to_string()]
    );
}
