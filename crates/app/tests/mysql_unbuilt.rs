//! A build without the `mysql` feature (the default) refuses a `mysql://` URL, saying how to build
//! one that serves it, before it connects to anything; `--sql`, which connects to nothing, prints
//! the MySQL script.
#![cfg(not(feature = "mysql"))]

mod common;

use common::Fixture;

#[test]
fn a_mysql_url_without_the_feature_says_how_to_build_with_it() {
    let fixture = Fixture::with_steps(1);
    for args in [
        &["db", "upgrade"][..],
        &["db", "current"],
        &["--migrate-only"],
    ] {
        let mut command = fixture.workhub();
        command
            .env("DATABASE_URL", "mysql://app:secret@127.0.0.1:3306/app")
            .args(args);
        let refused = common::output(&mut command);
        refused.expect_failure(
            2,
            &[
                "built without MySQL support",
                "--features mysql",
                "libmariadb-dev",
                "nothing was run",
            ],
        );
        assert!(!refused.stderr.contains("secret"), "{}", refused.stderr);
    }
    assert!(!fixture.db().exists(), "no SQLite file stands in for it");
}

/// `--sql` connects to nothing, so such a build prints the MySQL script all the same: the
/// repository's history, each migration under its run record and the lock.
#[test]
fn offline_sql_for_mysql_needs_no_mysql_build() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = common::workhub_command(dir.path());
    command
        .env("DATABASE_URL", "mysql://app:secret@127.0.0.1:3306/app")
        .args(["db", "upgrade", "--sql"]);
    let printed = common::output(&mut command);
    printed.expect_code(0);
    for needle in [
        "mariadb DATABASE < THIS_FILE",
        "GET_LOCK(@workhub_lock, 60)",
        "REPLACE INTO __workhub_migrations_run",
        "-- apply 2026-11-23-225048_initial",
        "DO RELEASE_LOCK(@workhub_lock);",
    ] {
        assert!(
            printed.stdout.contains(needle),
            "{needle}:\n{}",
            printed.stdout
        );
    }
}
