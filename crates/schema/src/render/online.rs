//! PostgreSQL's online form of a change: how `db create` writes a migration that a busy table keeps
//! serving through. What a transaction cannot hold without blocking writes for a scan or a build
//! (index builds and drops, unique constraints' indexes, NOT NULL on an existing column, and the
//! validation of constraints added to existing tables) moves out of the migration into a companion
//! run outside a transaction, where PostgreSQL builds `CONCURRENTLY` and each statement commits on
//! its own, holding its lock for an instant.
//!
//! Both dialects share the two folders. SQLite's companion makes the same index changes (in place,
//! each statement atomic); its main migration makes everything else, as before. PostgreSQL's main
//! migration leaves out, besides the indexes, the unique constraints and NOT NULLs the companion
//! adds: until the companion has run, those are missing on PostgreSQL only.

use std::fmt;

use crate::{Change, Dialect, Schema};

/// The `lock_timeout` generated PostgreSQL migrations set when none is given: long enough for a
/// catalog lock behind ordinary queries, short enough that traffic queued behind a waiting ALTER is
/// released quickly (the statement fails instead, and the migration can be run again).
pub const DEFAULT_LOCK_TIMEOUT: &str = "5s";

/// Rows a batched backfill updates per transaction.
pub const BACKFILL_BATCH: u32 = 10_000;

/// How generated PostgreSQL migrations bound their waits for locks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Online {
    lock_timeout: String,
}

impl Default for Online {
    fn default() -> Self {
        Self {
            lock_timeout: DEFAULT_LOCK_TIMEOUT.to_string(),
        }
    }
}

/// A `lock_timeout` that is not a positive PostgreSQL duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLockTimeout(pub String);

impl fmt::Display for BadLockTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a lock_timeout for generated PostgreSQL migrations: give a positive number \
             with a unit PostgreSQL reads (ms, s, min, h or d), e.g. `{DEFAULT_LOCK_TIMEOUT}` (the \
             default) or `500ms`",
            self.0
        )
    }
}

impl std::error::Error for BadLockTimeout {}

impl Online {
    /// Generated migrations that wait at most `lock_timeout` (`5s`, `500ms`, `1min`) for a lock.
    pub fn new(lock_timeout: &str) -> Result<Self, BadLockTimeout> {
        let text = lock_timeout.trim();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let positive = number
            .parse::<f64>()
            .is_ok_and(|n| n > 0.0 && n.is_finite());
        if !positive || !["ms", "s", "min", "h", "d"].contains(&unit.trim()) {
            return Err(BadLockTimeout(lock_timeout.to_string()));
        }
        Ok(Self {
            lock_timeout: format!("{number}{}", unit.trim()),
        })
    }

    pub fn lock_timeout(&self) -> &str {
        &self.lock_timeout
    }
}

/// The schema after the main migration on `dialect`: `target` with what the companion does left
/// as it is in `current` (both already normalised for `dialect`).
pub fn main_target(current: &Schema, target: &Schema, dialect: Dialect) -> Schema {
    let mut mid = target.clone();
    for table in &mut mid.tables {
        let Some(old) = current.table(&table.name) else {
            continue;
        };
        // Index changes on a table that stays: the companion makes them. An index on a column
        // that goes is dropped with it, in the main migration.
        let columns: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
        table.indexes = old
            .indexes
            .iter()
            .filter(|index| index.columns.iter().all(|c| columns.contains(c)))
            .cloned()
            .collect();
        if dialect == Dialect::Postgres {
            // A new unique constraint is built as an index, concurrently, then attached.
            table.uniques.retain(|unique| old.uniques.contains(unique));
            // NOT NULL on an existing column goes through a validated check, outside a transaction.
            for column in &mut table.columns {
                if old.column(&column.name).is_some_and(|c| c.nullable) && !column.nullable {
                    column.nullable = true;
                }
            }
        }
    }
    mid
}

/// The constraints a PostgreSQL main migration's `changes` add to existing tables, which it adds
/// `NOT VALID` and the companion validates: `(table, constraint)`.
pub fn to_validate(changes: &[Change]) -> Vec<(String, String)> {
    changes
        .iter()
        .filter_map(|change| match change {
            Change::AddForeignKey { table, foreign_key } => {
                Some((table.clone(), foreign_key.name.clone()))
            }
            Change::AlterForeignKey { table, to, .. } => Some((table.clone(), to.name.clone())),
            Change::AddCheck { table, check } => Some((table.clone(), check.name.clone())),
            _ => None,
        })
        .collect()
}

/// The name of the check constraint through which `table.column` becomes NOT NULL, dropped again
/// once it has done its work.
pub fn not_null_check(table: &str, column: &str) -> String {
    format!("{table}_{column}_not_null")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_timeouts_are_positive_postgresql_durations() {
        assert_eq!(Online::new("5s").unwrap().lock_timeout(), "5s");
        assert_eq!(Online::new(" 1.5 min ").unwrap().lock_timeout(), "1.5min");
        assert_eq!(Online::default().lock_timeout(), DEFAULT_LOCK_TIMEOUT);
        for bad in [
            "",
            "0s",
            "5",
            "five",
            "5 sec",
            "-1s",
            "5s; DROP TABLE x",
            "1e3ms",
        ] {
            let err = Online::new(bad).unwrap_err();
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
    }
}
