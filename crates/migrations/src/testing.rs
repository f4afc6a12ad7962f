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

/// The variable naming the MySQL or MariaDB server tests use; default
/// `mysql://root@127.0.0.1:3306/mysql`.
#[cfg(feature = "mysql")]
pub const MYSQL_SERVER_VARIABLE: &str = "WORKHUB_TEST_MYSQL_URL";

/// The MySQL or MariaDB server tests create their databases on, or `None` after a visible skip
/// notice when none answers. Under `CI=true` a missing server fails the test instead of skipping it.
#[cfg(feature = "mysql")]
pub fn mysql_server(test: &str) -> Option<DatabaseUrl> {
    let raw = std::env::var(MYSQL_SERVER_VARIABLE)
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".into());
    match diesel::MysqlConnection::establish(&raw) {
        Ok(_) => Some(DatabaseUrl::Mysql(raw)),
        Err(err) => {
            let shown = DatabaseUrl::Mysql(raw.clone());
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("{test}: MySQL at {shown} does not answer ({err}), and CI=true requires it");
            }
            skipped(&format!(
                "SKIPPED {test}: no MySQL server answers at {shown} ({}); set {MYSQL_SERVER_VARIABLE} to run it",
                err.to_string().trim()
            ));
            None
        }
    }
}
