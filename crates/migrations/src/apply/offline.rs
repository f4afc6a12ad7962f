//! A plan as one SQL script, for a DBA to run with psql or the sqlite3 shell where the engine cannot
//! connect: the migrations' own SQL with the transactions, history rows and lock the engine would
//! use, in the order it would run them. The script stops at its first error (psql's
//! `ON_ERROR_STOP`, sqlite3's `.bail`), so a failed migration leaves what the engine would leave.

use std::fmt::Write as _;
use std::time::Duration;

use super::migrator::refuse_mixed_transactions;
use super::TransactionMode;
use crate::history::HistoryTables;
use crate::plan::{Direction, Plan};
use crate::source::statements::{self, TokenKind};
use crate::{Dialect, MigrateError};

/// What the script is written for.
#[derive(Debug, Clone)]
pub struct Offline<'a> {
    pub dialect: Dialect,
    pub tables: &'a HistoryTables,
    /// The PostgreSQL advisory lock key migrators share (unused on SQLite, whose lock is the file's).
    pub lock_key: i64,
    pub transaction: TransactionMode,
    /// Whether the database may have no history tables yet (the plan starts at base): the script
    /// then creates them, as the engine does on a first run.
    pub create_tables: bool,
}

impl Offline<'_> {
    /// The script of `plan`; `header` lines open it as comments. Refused where a run would refuse:
    /// one transaction for all over a migration that must run outside one.
    pub fn script(&self, plan: &Plan<'_>, header: &[String]) -> Result<String, MigrateError> {
        refuse_mixed_transactions(plan, self.transaction)?;
        let mut out = String::new();
        for line in header {
            let _ = writeln!(out, "-- {line}");
        }
        let postgres = self.dialect == Dialect::Postgres;
        if postgres {
            out.push_str("\\set ON_ERROR_STOP on\n");
            let _ = writeln!(
                out,
                "-- Keeps workhub's migrators out while this runs, as its own runs keep each other out.\n\
                 SELECT pg_advisory_lock({});",
                self.lock_key
            );
        } else {
            out.push_str(
                ".bail on\n\
                 -- workhub migrates with foreign keys off (a table rebuild needs them off; a generated\n\
                 -- rebuild checks them itself before it commits).\n\
                 PRAGMA foreign_keys = OFF;\n",
            );
        }
        let begin = if postgres {
            "BEGIN;"
        } else {
            "BEGIN IMMEDIATE;"
        };
        if self.create_tables {
            let _ = writeln!(
                out,
                "\n-- The history tables, where they are missing.\n{begin}\n{};\nCOMMIT;",
                self.tables.create()
            );
        }
        let all = self.transaction == TransactionMode::All && !plan.steps.is_empty();
        if all {
            let _ = writeln!(out, "\n-- The whole run in one transaction.\n{begin}");
        }
        for migration in &plan.steps {
            let scripts = migration.scripts(self.dialect);
            let sql = match plan.direction {
                Direction::Up => scripts.up(),
                Direction::Down => scripts.down().unwrap_or_default(),
            };
            let history = match plan.direction {
                Direction::Up => self
                    .tables
                    .record(migration, self.dialect, Duration::ZERO, false),
                Direction::Down => self.tables.forget(migration.version()),
            };
            let _ = writeln!(
                out,
                "\n-- {} {}",
                match plan.direction {
                    Direction::Up => "apply",
                    Direction::Down => "revert",
                },
                migration.folder()
            );
            let sql = terminated(sql, self.dialect);
            let own = !all && migration.run_in_transaction();
            if own {
                let _ = writeln!(out, "{begin}\n{sql}\n{history}COMMIT;");
            } else if all {
                let _ = writeln!(out, "{sql}\n{history}");
            } else {
                // Outside a transaction, as the migration asks; its history rows in one of their own.
                let _ = writeln!(out, "{sql}\n{begin}\n{history}COMMIT;");
            }
        }
        if all {
            out.push_str("COMMIT;\n");
        }
        if postgres {
            let _ = writeln!(out, "\nSELECT pg_advisory_unlock({});", self.lock_key);
        }
        Ok(out)
    }
}

/// `sql` without trailing space, ending its last statement with `;` where it does not (workhub's
/// own SQL follows it in the same script).
fn terminated(sql: &str, dialect: Dialect) -> String {
    let last = statements::tokens(sql, dialect)
        .filter(|token| !matches!(token.kind, TokenKind::Space | TokenKind::Comment))
        .last();
    let sql = sql.trim_end();
    match last {
        Some(token) if token.kind == TokenKind::Punct && token.text == ";" => sql.to_string(),
        None => sql.to_string(),
        // After a line that may end in a comment, on a line of its own.
        Some(_) => format!("{sql}\n;"),
    }
}
