//! The two history tables, by name, and every statement that reads or writes them.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::{Dialect, Migration};

/// The names of a database's history tables: the versions table diesel_cli reads and writes, and the
/// companion table with what diesel does not record. The defaults are diesel's
/// `__diesel_schema_migrations` and workhub's `__workhub_migrations`; an application whose database
/// already uses those names for something else, or that keeps two histories in one database, chooses
/// others (diesel_cli then sees only a history under diesel's name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryTables {
    versions: Cow<'static, str>,
    companion: Cow<'static, str>,
}

/// A table name [`HistoryTables::new`] refuses, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidTableName {
    pub name: String,
    pub reason: &'static str,
}

impl fmt::Display for InvalidTableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "history table name `{}`: {}", self.name, self.reason)
    }
}

impl std::error::Error for InvalidTableName {}

impl Default for HistoryTables {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl HistoryTables {
    /// diesel's versions table and workhub's companion table.
    pub const DEFAULT: Self = Self {
        versions: Cow::Borrowed("__diesel_schema_migrations"),
        companion: Cow::Borrowed("__workhub_migrations"),
    };

    /// Tables of other names. Each is a plain identifier (or `schema.identifier`), so that it means
    /// the same table unquoted on every database and can be written into SQL as it is.
    pub fn new(
        versions: impl Into<String>,
        companion: impl Into<String>,
    ) -> Result<Self, InvalidTableName> {
        let (versions, companion) = (versions.into(), companion.into());
        for name in [&versions, &companion] {
            if !is_plain_name(name) {
                return Err(InvalidTableName {
                    name: name.clone(),
                    reason: "not a plain table name: use letters, digits and `_` (not first a \
                             digit), at most 63 bytes, optionally after a schema name and a `.`",
                });
            }
        }
        if versions.eq_ignore_ascii_case(&companion) {
            return Err(InvalidTableName {
                name: companion,
                reason: "names both history tables; they must differ",
            });
        }
        Ok(Self {
            versions: Cow::Owned(versions),
            companion: Cow::Owned(companion),
        })
    }

    /// The table of applied versions (diesel's by default).
    pub fn versions(&self) -> &str {
        &self.versions
    }

    /// The companion table: folder, checksum, when, how long, stamped.
    pub fn companion(&self) -> &str {
        &self.companion
    }

    /// The table of migrations that started and did not finish, where DDL commits itself (MySQL;
    /// see [`run`](crate::history::run)): the companion table's name with `_run`.
    pub fn runs(&self) -> String {
        format!("{}_run", self.companion)
    }

    /// The statements that create both tables when they are missing; the same on every backend.
    pub fn create(&self) -> String {
        CREATE_TABLES
            .replace("$versions", &self.versions)
            .replace("$companion", &self.companion)
    }

    /// Reads every applied version with whatever the companion table knows of it, in version order.
    pub fn select_applied(&self, dialect: Dialect) -> String {
        // MySQL casts to CHAR; TEXT is not a type it casts to.
        let text = if dialect == Dialect::Mysql {
            "CHAR"
        } else {
            "TEXT"
        };
        format!(
            "SELECT d.version AS version, w.folder AS folder, w.checksum AS checksum, \
             CAST(w.applied_at AS {text}) AS applied_at, w.duration_ms AS duration_ms, \
             COALESCE(w.stamped, FALSE) AS stamped \
             FROM {} d LEFT JOIN {} w ON w.version = d.version ORDER BY d.version",
            self.versions, self.companion
        )
    }

    /// Reads the applied versions alone (a database diesel_cli migrated has no companion table).
    pub fn select_versions(&self) -> String {
        format!("SELECT version FROM {} ORDER BY version", self.versions)
    }

    /// The statements (each ending `;` and a newline) that record `migration` as applied, replacing
    /// any companion row its version has. Every value is a validated folder name, a version, a hex
    /// checksum or a number, so inlining them is safe; [`quote`] escapes regardless.
    pub fn record(
        &self,
        migration: &Migration,
        dialect: Dialect,
        took: Duration,
        stamped: bool,
    ) -> String {
        format!(
            "INSERT INTO {} (version) VALUES ({});\n{}",
            self.versions,
            quote(migration.version()),
            self.replace_companion(migration, dialect, took, stamped)
        )
    }

    /// The companion row of an applied `migration`, as it stands now: its current checksum. One
    /// statement either way: a row its version already has (left by a run diesel_cli reverted, or
    /// being repaired) is overwritten whole, as if written anew.
    pub fn replace_companion(
        &self,
        migration: &Migration,
        dialect: Dialect,
        took: Duration,
        stamped: bool,
    ) -> String {
        // MySQL has no ON CONFLICT; its upsert names the new row's values with VALUES().
        let update = if dialect == Dialect::Mysql {
            "ON DUPLICATE KEY UPDATE folder = VALUES(folder), checksum = VALUES(checksum), \
             applied_at = CURRENT_TIMESTAMP, duration_ms = VALUES(duration_ms), \
             stamped = VALUES(stamped)"
        } else {
            "ON CONFLICT (version) DO UPDATE SET folder = excluded.folder, \
             checksum = excluded.checksum, applied_at = CURRENT_TIMESTAMP, \
             duration_ms = excluded.duration_ms, stamped = excluded.stamped"
        };
        format!(
            "INSERT INTO {} (version, folder, checksum, duration_ms, stamped) \
             VALUES ({}, {}, {}, {}, {}) {update};\n",
            self.companion,
            quote(migration.version()),
            quote(migration.folder()),
            quote(migration.scripts(dialect).checksum()),
            took.as_millis(),
            if stamped { "TRUE" } else { "FALSE" },
        )
    }

    /// The statements that forget `version`: no longer applied.
    pub fn forget(&self, version: &str) -> String {
        format!(
            "DELETE FROM {} WHERE version = {v};\nDELETE FROM {} WHERE version = {v};\n",
            self.versions,
            self.companion,
            v = quote(version)
        )
    }
}

/// [`HistoryTables::create`] with `$versions` and `$companion` for the names. (The benchmark reads it
/// from this file, to give its baselines the same tables.)
const CREATE_TABLES: &str = "CREATE TABLE IF NOT EXISTS $versions (
    version VARCHAR(50) PRIMARY KEY NOT NULL,
    run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS $companion (
    version VARCHAR(50) PRIMARY KEY NOT NULL,
    folder TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    duration_ms BIGINT NOT NULL,
    stamped BOOLEAN NOT NULL DEFAULT FALSE
)";

/// `value` as an SQL string literal.
pub(crate) fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn is_plain_name(name: &str) -> bool {
    let identifier = |part: &str| {
        part.len() <= 63
            && part
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    match name.split_once('.') {
        Some((schema, table)) => identifier(schema) && identifier(table),
        None => identifier(name),
    }
}

#[cfg(test)]
mod tests {
    use super::HistoryTables;
    use crate::Dialect;

    #[test]
    fn only_plain_distinct_names_are_taken() {
        assert!(HistoryTables::new("app_versions", "app_history").is_ok());
        assert!(HistoryTables::new("ops.versions", "ops.history").is_ok());
        for (versions, companion) in [
            ("versions; DROP TABLE users", "history"),
            ("versions", "\"history\""),
            ("1versions", "history"),
            ("", "history"),
            ("a.b.c", "history"),
        ] {
            let err = HistoryTables::new(versions, companion).unwrap_err();
            assert!(err.to_string().contains("not a plain table name"), "{err}");
        }
        let err = HistoryTables::new("versions", "VERSIONS").unwrap_err();
        assert!(err.to_string().contains("they must differ"), "{err}");
    }

    #[test]
    fn the_statements_name_the_configured_tables() {
        let tables = HistoryTables::new("app_versions", "app_history").unwrap();
        for sql in [
            tables.create(),
            tables.select_applied(Dialect::Sqlite),
            tables.forget("1"),
        ] {
            assert!(sql.contains("app_versions"), "{sql}");
            assert!(sql.contains("app_history"), "{sql}");
            assert!(!sql.contains("__"), "{sql}");
        }
    }
}
