//! Support for tests that need a PostgreSQL server, shared by every crate's tests.

use diesel::{Connection, PgConnection};

use crate::DatabaseUrl;

/// The variable naming the server tests use; default `postgres://postgres@127.0.0.1:5432/postgres`.
pub const SERVER_VARIABLE: &str = "WORKHUB_TEST_POSTGRES_URL";

/// The PostgreSQL server tests create their databases on, or `None` after a visible skip notice when
/// none answers. Under `CI=true` a missing server fails the test instead of skipping it.
pub fn postgres_server(test: &str) -> Option<DatabaseUrl> {
    let raw = std::env::var(SERVER_VARIABLE)
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    match PgConnection::establish(&raw) {
        Ok(_) => Some(DatabaseUrl::Postgres(raw)),
        Err(err) => {
            let shown = DatabaseUrl::Postgres(raw.clone());
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("{test}: PostgreSQL at {shown} does not answer ({err}), and CI=true requires it");
            }
            skipped(&format!(
                "SKIPPED {test}: no PostgreSQL server answers at {shown} ({}); set {SERVER_VARIABLE} to run it",
                err.to_string().trim()
            ));
            None
        }
    }
}

/// Prints a test's skip notice where it is seen: straight to the process's standard error, which the
/// test harness does not capture (it captures `eprintln!`, and shows that only for a failing test).
pub fn skipped(notice: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{notice}");
}
