//! Every way a `workhub` command refuses, case by case: the exit code (1 failure, 2 usage), a message
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
        1,
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
        1,
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
            1,
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
        1,
        &[
            "`-1`",
            "upgrade only goes forward",
            "workhub db downgrade -1",
        ],
    );
    refused(
        &fixture,
        &["db", "upgrade", "base"],
        1,
        &["workhub db downgrade base"],
    );
    refused(
        &fixture,
        &["db", "downgrade", "+1"],
        1,
        &["`+1`", "downgrade only goes back", "workhub db upgrade"],
    );
    refused(
        &fixture,
        &["db", "downgrade", "head"],
        1,
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
            .env("DATABASE_URL", "mysql://root:supersecret@db.example/app")
            .args(["db", "current"]),
    );
    run.expect_failure(2, &["the scheme `mysql` is not supported", "hint:"]);
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
        1,
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
    missing.expect_failure(
        1,
        &["cannot read the migrations directory", "nowhere", "hint:"],
    );
}
