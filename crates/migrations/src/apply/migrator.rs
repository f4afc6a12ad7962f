use std::time::{Duration, Instant};

use super::{Backend, Progress};
use crate::history::fingerprint::{self, Header};
use crate::history::{COMPANION_TABLE, CREATE_TABLES, DIESEL_TABLE};
use crate::plan::{Direction, Plan, State, Status, Target};
use crate::source::statements;
use crate::{Dialect, MigrateError, Migration, Undone};

/// How a run uses transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransactionMode {
    /// One transaction per migration, with its history row: a failure rolls back that migration only.
    #[default]
    Each,
    /// The whole run in one transaction: all or nothing.
    All,
}

/// One migration a run applied or reverted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    pub folder: String,
    pub took: Duration,
}

/// What `stamp` changed in the history without running any SQL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StampReport {
    pub recorded: Vec<String>,
    pub removed: Vec<String>,
}

/// Runs plans over a set of known migrations. Every command that changes a database holds the
/// backend's migration lock from before it reads the history until it is done.
#[derive(Debug, Clone)]
pub struct Migrator<'m> {
    migrations: &'m [Migration],
    pub allow_out_of_order: bool,
    /// Run pending migrations whose lineage does not follow the one before them (scratch replays).
    pub allow_diverged: bool,
    pub transaction: TransactionMode,
    pub lock_timeout: Duration,
    /// Keep the head fingerprint (see [`fingerprint`]) in the database header where the backend has
    /// one. It claims SQLite's `PRAGMA user_version`, so it is off unless the application owns that.
    pub head_fingerprint: bool,
}

impl<'m> Migrator<'m> {
    pub fn new(migrations: &'m [Migration]) -> Self {
        Self {
            migrations,
            allow_out_of_order: false,
            allow_diverged: false,
            transaction: TransactionMode::Each,
            lock_timeout: Duration::from_secs(60),
            head_fingerprint: false,
        }
    }

    pub fn migrations(&self) -> &'m [Migration] {
        self.migrations
    }

    /// Reads where the database stands, without locking or creating anything.
    pub fn status(&self, db: &mut dyn Backend) -> Result<Status<'m>, MigrateError> {
        Ok(Status::new(db.dialect(), self.migrations, db.history()?))
    }

    /// Whether the head fingerprint proves the database is at head, read from the header alone: no
    /// lock, no history, no schema. `false` says only that the history must be read to know.
    pub fn fingerprint_proves_head(&self, db: &mut dyn Backend) -> Result<bool, MigrateError> {
        Ok(self
            .header(db)?
            .is_some_and(|header| fingerprint::proves_head(header, self.migrations, db.dialect())))
    }

    /// Whether the stored fingerprint claims head while `status`, read in full, says otherwise (see
    /// [`fingerprint::misleads`]): a run that trusts the fingerprint would wrongly do nothing.
    pub fn fingerprint_misleads(
        &self,
        db: &mut dyn Backend,
        status: &Status<'_>,
    ) -> Result<bool, MigrateError> {
        Ok(self
            .header(db)?
            .is_some_and(|header| fingerprint::misleads(header, status)))
    }

    fn header(&self, db: &mut dyn Backend) -> Result<Option<Header>, MigrateError> {
        if !self.head_fingerprint {
            return Ok(None);
        }
        db.header().map_err(|message| MigrateError::Database {
            doing: "reading the database header".into(),
            message,
        })
    }

    /// The statement that withdraws a stored fingerprint, or "" when none is stored. It runs inside the
    /// first transaction that changes the history (alone, just before a change made outside one), so
    /// a run rolled back leaves the header as it was, and a run cut off halfway never leaves a
    /// fingerprint that claims head.
    fn withdrawal(&self, db: &mut dyn Backend) -> Result<String, MigrateError> {
        Ok(match self.header(db)? {
            Some(header) if header.fingerprint != fingerprint::NONE => db
                .withdraw_fingerprint_sql()
                .map(|sql| format!("{sql};\n"))
                .unwrap_or_default(),
            _ => String::new(),
        })
    }

    /// Stores the fingerprint the database now deserves, once a command is done; `status` and
    /// `before` were read before it ran. A command that failed without changing the history (a
    /// refusal, or a migration rolled back) changes nothing here either. It is only a cache: when it
    /// cannot be written (a read-only file, a busy writer), the next run reads the history instead.
    fn settle_fingerprint(
        &self,
        db: &mut dyn Backend,
        status: &Status<'m>,
        before: Option<Header>,
        succeeded: bool,
    ) {
        let Ok(Some(header)) = self.header(db) else {
            return;
        };
        // Every change withdraws a stored fingerprint first: one still in place, with the header as
        // it was, proves `status` is still true and spares a second read of the history.
        let unchanged =
            succeeded && header.fingerprint != fingerprint::NONE && before == Some(header);
        let reread;
        let status = if unchanged {
            status
        } else {
            match self.status(db) {
                Ok(now) if succeeded || !same_history(status, &now) => {
                    reread = now;
                    &reread
                }
                _ => return,
            }
        };
        if fingerprint::deserved(status, header.schema_cookie) != header.fingerprint {
            let _ = db.store_fingerprint(&|cookie| fingerprint::deserved(status, cookie));
        }
    }

    pub fn upgrade(
        &self,
        db: &mut dyn Backend,
        target: &Target,
        progress: &mut dyn Progress,
    ) -> Result<Vec<Ran>, MigrateError> {
        self.locked(db, progress, |db, status, progress| {
            let plan = status.plan_upgrade(target, self.allow_out_of_order, self.allow_diverged)?;
            self.run(db, &plan, progress)
        })
    }

    pub fn downgrade(
        &self,
        db: &mut dyn Backend,
        target: &Target,
        progress: &mut dyn Progress,
    ) -> Result<Vec<Ran>, MigrateError> {
        self.locked(db, progress, |db, status, progress| {
            let plan = status.plan_downgrade(target)?;
            self.run(db, &plan, progress)
        })
    }

    /// Records `target` as the database's revision without running SQL: every migration up to it
    /// applied, none after. `purge` first forgets the whole history, unknown versions included.
    pub fn stamp(
        &self,
        db: &mut dyn Backend,
        target: &Target,
        purge: bool,
        progress: &mut dyn Progress,
    ) -> Result<StampReport, MigrateError> {
        self.locked(db, progress, |db, status, _| {
            if !purge && !status.unknown.is_empty() {
                status.verify()?;
            }
            let count = status.stamp_count(target)?;
            let mut report = StampReport::default();
            let mut sql = String::new();
            if purge {
                sql.push_str(&format!(
                    "DELETE FROM {DIESEL_TABLE};\nDELETE FROM {COMPANION_TABLE};\n"
                ));
                report.removed.extend(
                    status
                        .unknown
                        .iter()
                        .map(|row| row.folder.clone().unwrap_or_else(|| row.version.clone())),
                );
            }
            for (index, entry) in status.entries().iter().enumerate() {
                let migration = entry.migration;
                let applied = entry.state != State::Pending;
                if index < count && (purge || !applied) {
                    sql.push_str(&record(migration, status.dialect(), Duration::ZERO, true));
                    if !applied {
                        report.recorded.push(migration.folder().to_string());
                    }
                } else if index >= count && applied {
                    if !purge {
                        sql.push_str(&forget(migration.version()));
                    }
                    report.removed.push(migration.folder().to_string());
                }
            }
            if !sql.is_empty() {
                sql.insert_str(0, &self.withdrawal(db)?);
            }
            in_transaction(db, &sql).map_err(|message| MigrateError::Database {
                doing: "stamping the history".into(),
                message,
            })?;
            Ok(report)
        })
    }

    /// Records the current checksum of every applied migration whose recorded one differs or is missing
    /// (applied by diesel_cli); returns their folders. The deliberate way past a `Modified` refusal.
    pub fn repair(
        &self,
        db: &mut dyn Backend,
        progress: &mut dyn Progress,
    ) -> Result<Vec<String>, MigrateError> {
        self.locked(db, progress, |db, status, _| {
            let dialect = status.dialect();
            let mut sql = String::new();
            let mut repaired = Vec::new();
            for entry in status.entries() {
                let Some(row) = &entry.applied else { continue };
                if row.checksum.as_deref() != Some(entry.migration.scripts(dialect).checksum()) {
                    sql.push_str(&format!(
                        "DELETE FROM {COMPANION_TABLE} WHERE version = {};\n{}",
                        quote(entry.migration.version()),
                        companion_row(
                            entry.migration,
                            dialect,
                            Duration::from_millis(row.duration_ms.unwrap_or(0).max(0) as u64),
                            row.stamped
                        )
                    ));
                    repaired.push(entry.migration.folder().to_string());
                }
            }
            if !sql.is_empty() {
                sql.insert_str(0, &self.withdrawal(db)?);
            }
            in_transaction(db, &sql).map_err(|message| MigrateError::Database {
                doing: "repairing the history".into(),
                message,
            })?;
            Ok(repaired)
        })
    }

    /// Locks, makes sure the history tables exist, reads the status once, runs `body`, and unlocks
    /// whatever happened.
    fn locked<T>(
        &self,
        db: &mut dyn Backend,
        progress: &mut dyn Progress,
        body: impl FnOnce(&mut dyn Backend, &Status<'m>, &mut dyn Progress) -> Result<T, MigrateError>,
    ) -> Result<T, MigrateError> {
        db.lock(self.lock_timeout, &mut |holder| {
            progress.waiting_for_lock(holder)
        })?;
        let result = (|| {
            let history_missing =
                |db: &mut dyn Backend, table| db.table_exists(table).map(|exists| !exists);
            let missing = history_missing(db, DIESEL_TABLE)
                .and_then(|d| Ok(d || history_missing(db, COMPANION_TABLE)?));
            let missing = missing.map_err(|message| MigrateError::Database {
                doing: "checking the history tables".into(),
                message,
            })?;
            if missing {
                db.execute(CREATE_TABLES)
                    .map_err(|message| MigrateError::Database {
                        doing: "creating the history tables".into(),
                        message,
                    })?;
            }
            // Unreadable, the header only costs the shortcut in `settle_fingerprint`.
            let before = self.header(db).ok().flatten();
            let status = self.status(db)?;
            let result = body(db, &status, progress);
            // Settled after a failure too: a run that failed halfway has changed the history.
            self.settle_fingerprint(db, &status, before, result.is_ok());
            result
        })();
        db.unlock();
        result
    }

    fn run(
        &self,
        db: &mut dyn Backend,
        plan: &Plan<'m>,
        progress: &mut dyn Progress,
    ) -> Result<Vec<Ran>, MigrateError> {
        let dialect = db.dialect();
        let total = plan.steps.len();
        let mut ran = Vec::with_capacity(total);
        let all = self.transaction == TransactionMode::All && total > 0;
        if all {
            let outside: Vec<String> = plan
                .steps
                .iter()
                .filter(|m| !m.run_in_transaction())
                .map(|m| m.folder().to_string())
                .collect();
            if !outside.is_empty() {
                return Err(MigrateError::NeedsOwnTransaction { folders: outside });
            }
        }
        let mut withdrawal = if total > 0 {
            self.withdrawal(db)?
        } else {
            String::new()
        };
        if all {
            db.begin()
                .map_err(|message| bookkeeping(plan.steps[0], message))?;
        }
        for (index, migration) in plan.steps.iter().copied().enumerate() {
            progress.started(index, total, migration, plan.direction);
            let started = Instant::now();
            let scripts = migration.scripts(dialect);
            let sql = match plan.direction {
                Direction::Up => scripts.up(),
                Direction::Down => scripts.down().unwrap_or_default(),
            };
            let own_transaction = !all && migration.run_in_transaction();
            let undone = match (all, own_transaction) {
                (true, _) => Undone::Run,
                (false, true) => Undone::Migration,
                (false, false) => Undone::Nothing,
            };
            if own_transaction {
                db.begin()
                    .map_err(|message| bookkeeping(migration, message))?;
            }
            // With the first change, in its transaction when it has one.
            let withdrawn = if withdrawal.is_empty() {
                Ok(())
            } else {
                db.execute(&std::mem::take(&mut withdrawal))
                    .map_err(|message| bookkeeping(migration, message))
            };
            let outcome = withdrawn
                .and_then(|()| run_statements(db, migration, plan.direction, sql))
                .and_then(|()| {
                    let took = started.elapsed();
                    let history = match plan.direction {
                        Direction::Up => record(migration, dialect, took, false),
                        Direction::Down => forget(migration.version()),
                    };
                    // Outside a transaction, the history rows still go in together (or not at all).
                    let recorded = if undone == Undone::Nothing {
                        in_transaction(db, &history)
                    } else {
                        db.execute(&history)
                    };
                    recorded.map_err(|message| bookkeeping(migration, message))?;
                    Ok(took)
                });
            let outcome = outcome.and_then(|took| {
                if own_transaction {
                    db.execute("COMMIT")
                        .map_err(|message| bookkeeping(migration, message))?;
                }
                Ok(took)
            });
            match outcome {
                Ok(took) => {
                    // In one transaction for all, nothing is done until the final commit.
                    if !all {
                        progress.finished(index, total, migration, plan.direction, took);
                    }
                    ran.push(Ran {
                        folder: migration.folder().to_string(),
                        took,
                    });
                }
                Err(mut err) => {
                    if undone != Undone::Nothing {
                        let _ = db.execute("ROLLBACK");
                    }
                    if let MigrateError::Statement { undone: slot, .. } = &mut err {
                        *slot = undone;
                    }
                    return Err(err);
                }
            }
        }
        if all {
            if let Err(message) = db.execute("COMMIT") {
                let _ = db.execute("ROLLBACK");
                return Err(bookkeeping(plan.steps[total - 1], message));
            }
            for (index, (migration, done)) in plan.steps.iter().zip(&ran).enumerate() {
                progress.finished(index, total, migration, plan.direction, done.took);
            }
        }
        Ok(ran)
    }
}

/// Whether two reads of the history found the same rows.
fn same_history(a: &Status<'_>, b: &Status<'_>) -> bool {
    a.unknown == b.unknown
        && a.entries()
            .iter()
            .map(|entry| &entry.applied)
            .eq(b.entries().iter().map(|entry| &entry.applied))
}

fn run_statements(
    db: &mut dyn Backend,
    migration: &Migration,
    direction: Direction,
    sql: &str,
) -> Result<(), MigrateError> {
    for statement in statements::split(sql) {
        db.execute(statement)
            .map_err(|message| MigrateError::Statement {
                folder: migration.folder().to_string(),
                direction: direction.as_str(),
                statement: statement.to_string(),
                message,
                undone: Undone::Migration,
            })?;
    }
    Ok(())
}

fn bookkeeping(migration: &Migration, message: String) -> MigrateError {
    MigrateError::Database {
        doing: format!("recording {} in the migration history", migration.folder()),
        message,
    }
}

fn in_transaction(db: &mut dyn Backend, sql: &str) -> Result<(), String> {
    if sql.is_empty() {
        return Ok(());
    }
    db.begin()?;
    if let Err(message) = db.execute(sql).and_then(|()| db.execute("COMMIT")) {
        let _ = db.execute("ROLLBACK");
        return Err(message);
    }
    Ok(())
}

/// The statements that record `migration` as applied. Every value is a validated folder name, a
/// version, a hex checksum or a number, so inlining them is safe; `quote` escapes regardless.
fn record(migration: &Migration, dialect: Dialect, took: Duration, stamped: bool) -> String {
    format!(
        "INSERT INTO {DIESEL_TABLE} (version) VALUES ({v});\nDELETE FROM {COMPANION_TABLE} WHERE version = {v};\n{}",
        companion_row(migration, dialect, took, stamped),
        v = quote(migration.version()),
    )
}

fn companion_row(migration: &Migration, dialect: Dialect, took: Duration, stamped: bool) -> String {
    format!(
        "INSERT INTO {COMPANION_TABLE} (version, folder, checksum, duration_ms, stamped) VALUES ({}, {}, {}, {}, {});\n",
        quote(migration.version()),
        quote(migration.folder()),
        quote(migration.scripts(dialect).checksum()),
        took.as_millis(),
        if stamped { "TRUE" } else { "FALSE" },
    )
}

fn forget(version: &str) -> String {
    format!(
        "DELETE FROM {DIESEL_TABLE} WHERE version = {v};\nDELETE FROM {COMPANION_TABLE} WHERE version = {v};\n",
        v = quote(version)
    )
}

fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}
