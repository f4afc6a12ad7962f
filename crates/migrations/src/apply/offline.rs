//! A plan as one SQL script, for a DBA to run with psql, the sqlite3 shell or the mysql client where
//! the engine cannot connect: the migrations' own SQL with the transactions, history rows and lock
//! the engine would use, in the order it would run them. The script stops at its first error
//! (psql's `ON_ERROR_STOP`, sqlite3's `.bail`, the mysql client's batch mode), so a failed migration
//! leaves what the engine would leave: on MySQL, whose DDL cannot roll back, the run record saying
//! which statements took effect, which a run of the engine then refuses on and can resume from.

use std::fmt::Write as _;
use std::time::Duration;

use super::migrator::{
    refuse_mixed_transactions, refuse_unsplittable, refuse_without_dialect_sql, script_of,
    started_run,
};
use super::mysql_sql::{self, Tracker, LOCK_NAME_SQL};
use super::TransactionMode;
use crate::history::run::{self, prefix_checksum};
use crate::history::{quote, HistoryTables, InterruptedRun};
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
    /// How long a MySQL script waits for the migration lock, and each statement for another
    /// session's lock on a table, as a run waits (PostgreSQL's script waits for its lock as long as
    /// it takes).
    pub lock_timeout: Duration,
    pub transaction: TransactionMode,
    /// Whether the database may have no history tables yet (the plan starts at base): the script
    /// then creates them, as the engine does on a first run. (A MySQL script always creates those
    /// missing: its run record's table may be missing beside a history.)
    pub create_tables: bool,
}

impl Offline<'_> {
    /// The script of `plan`; `header` lines open it as comments. Refused where a run would refuse:
    /// one transaction for all over a migration that must run outside one, or on MySQL at all; on
    /// MySQL, a migration without MySQL SQL or whose script cannot be split.
    pub fn script(&self, plan: &Plan<'_>, header: &[String]) -> Result<String, MigrateError> {
        if self.dialect == Dialect::Mysql {
            return self.mysql(plan, header);
        }
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

    /// The script for the mysql client: every migration statement by statement under its run
    /// record, each statement with the record's writes a run sends with it (see
    /// [`mysql_sql`](super::mysql_sql)), under the user lock a run takes.
    fn mysql(&self, plan: &Plan<'_>, header: &[String]) -> Result<String, MigrateError> {
        if self.transaction == TransactionMode::All {
            return Err(MigrateError::NoTransactionalDdl {
                database: "MySQL".into(),
            });
        }
        refuse_without_dialect_sql(plan, Dialect::Mysql)?;
        refuse_unsplittable(plan, Dialect::Mysql)?;
        let runs = self.tables.runs();
        let mut out = String::new();
        for line in header {
            let _ = writeln!(out, "-- {line}");
        }
        let seconds = self.lock_timeout.as_secs().max(1);
        let _ = writeln!(
            out,
            "\n-- Keeps workhub's migrators out while this runs, as its own runs keep each other \
             out (the server\n-- releases the lock when this session ends, however it ends); \
             statements wait as long for\n-- other sessions' locks on their tables.\n\
             SET SESSION lock_wait_timeout = {seconds};\n\
             SET @workhub_lock = {LOCK_NAME_SQL};\n{}",
            refusal(
                &format!("GET_LOCK(@workhub_lock, {seconds}) = 1"),
                "refused: another migrator holds the migration lock"
            )
        );
        let _ = writeln!(
            out,
            "\n-- The history tables and the run record's, where they are missing.\n{};\n{};",
            self.tables.create(),
            run::create(&runs)
        );
        // What a run refuses on under the lock: a migration a run left halfway (the database is
        // between two of its statements; a run of workhub's names it, and the way on). And what a
        // run never does: a migration applied twice, or one not applied reverted.
        let _ = writeln!(
            out,
            "\n-- A run that stopped halfway through a migration (workhub's, or a script's) left \
             its record:\n-- workhub's `db upgrade` names it and the way on.\n{}",
            refusal(
                &format!("NOT EXISTS (SELECT 1 FROM {runs})"),
                "refused: a migration was left unfinished; nothing was run"
            )
        );
        if !plan.steps.is_empty() {
            let versions: Vec<String> = plan.steps.iter().map(|m| quote(m.version())).collect();
            let applied = match plan.direction {
                Direction::Up => 0,
                Direction::Down => plan.steps.len(),
            };
            let _ = writeln!(
                out,
                "-- The history says what this script starts from.\n{}",
                refusal(
                    &format!(
                        "(SELECT COUNT(*) FROM {} WHERE version IN ({})) = {applied}",
                        self.tables.versions(),
                        versions.join(", ")
                    ),
                    "refused: the database is not where this script starts"
                )
            );
        }
        for (index, migration) in plan.steps.iter().copied().enumerate() {
            let sql = script_of(migration, Dialect::Mysql, plan.direction);
            let statements = statements::split(sql, Dialect::Mysql);
            let _ = writeln!(
                out,
                "\n-- {} {}: {} statement{}, the record moved on as each takes effect",
                match plan.direction {
                    Direction::Up => "apply",
                    Direction::Down => "revert",
                },
                migration.folder(),
                statements.len(),
                if statements.len() == 1 { "" } else { "s" }
            );
            if index == 0 {
                // Later migrations' records are started by the history rows before them.
                let started = by_script(started_run(migration, plan.direction, &statements, 0));
                let _ = writeln!(out, "{};", mysql_sql::start(&runs, &started));
            }
            let mut tracker = Tracker::new(statements.len());
            for (done, statement) in statements.iter().enumerate() {
                let checksum = prefix_checksum(&statements[..=done]);
                let trip =
                    tracker.statement(&runs, migration.version(), statement, done + 1, &checksum);
                if trip.begins {
                    out.push_str("START TRANSACTION;\n");
                }
                out.push_str(&for_the_client(trip.statement));
                if !trip.after.is_empty() {
                    let _ = writeln!(out, "{};", trip.after);
                }
            }
            let history = match plan.direction {
                Direction::Up => {
                    self.tables
                        .record(migration, Dialect::Mysql, Duration::ZERO, false)
                }
                Direction::Down => self.tables.forget(migration.version()),
            };
            let next = plan.steps.get(index + 1).map(|next| {
                let sql = script_of(next, Dialect::Mysql, plan.direction);
                by_script(started_run(
                    next,
                    plan.direction,
                    &statements::split(sql, Dialect::Mysql),
                    0,
                ))
            });
            let _ = writeln!(
                out,
                "{};",
                tracker.done(&runs, migration.version(), &history, next.as_ref())
            );
        }
        out.push_str("\nDO RELEASE_LOCK(@workhub_lock);\n");
        Ok(out)
    }
}

/// `run`, started by a script: its record says so, since the script cannot record an error.
fn by_script(run: InterruptedRun) -> InterruptedRun {
    InterruptedRun {
        by_script: true,
        ..run
    }
}

/// The statements that stop the mysql client at an error saying `message` unless `holds` (an SQL
/// condition) is true. A statement that is not there cannot be prepared: the one portable way to
/// fail on a condition outside a stored program (SIGNAL needs one, or cannot be prepared).
/// `message` is a name of at most 64 characters, without quotes or backticks.
fn refusal(holds: &str, message: &str) -> String {
    format!(
        "SET @workhub_refusal = IF({holds}, 'DO 0', 'SELECT `{message}`');\n\
         PREPARE workhub_refusal FROM @workhub_refusal;\n\
         DEALLOCATE PREPARE workhub_refusal;"
    )
}

/// Migration statement `statement` as the mysql client must read it to send it whole: ended by
/// `;`, or where it holds a `;` (a compound body), under a `DELIMITER` found nowhere in it.
fn for_the_client(statement: &str) -> String {
    if !statement.contains(';') {
        return format!("{statement};\n");
    }
    let delimiter = ["//".to_string(), "$$".to_string()]
        .into_iter()
        .chain((1..).map(|n| format!("//{n}")))
        .find(|candidate| !statement.contains(candidate.as_str()))
        .unwrap_or_default();
    format!("DELIMITER {delimiter}\n{statement}{delimiter}\nDELIMITER ;\n")
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
