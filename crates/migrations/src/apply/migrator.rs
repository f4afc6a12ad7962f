use std::time::{Duration, Instant};

use super::backend::BeginError;
use super::{Backend, Progress};
use crate::history::run::prefix_checksum;
use crate::history::{AppliedMigration, InterruptedRun};
use crate::plan::{Direction, Plan, State, Status, Target};
use crate::source::statements;
use crate::{DatabaseError, Dialect, MigrateError, Migration, Undone};

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

/// What an upgrade or downgrade did, and where the database stands after it.
#[derive(Debug, Clone)]
pub struct Outcome<'m> {
    pub ran: Vec<Ran>,
    /// The status after the run: the one read before it when nothing ran, else that one with the run's
    /// changes laid over it (read under the lock, so nothing else changed it meanwhile).
    pub status: Status<'m>,
}

/// Runs plans over a set of known migrations.
///
/// Every command that changes a database first reads the history without locking or creating
/// anything and resolves what it would do, so a refusal leaves the database as it found it (a SQLite
/// file that does not exist stays absent). Nothing to do is confirmed under the lock, writing nothing,
/// before it is answered. Otherwise it takes the backend's migration lock, creates the history tables
/// if they are missing, reads the history again and resolves again under the lock, and runs, holding
/// the lock until it is done. Where taking the lock writes nothing (PostgreSQL's advisory lock), a
/// command takes it first and reads the history once, under it.
#[derive(Debug, Clone)]
pub struct Migrator<'m> {
    migrations: &'m [Migration],
    pub allow_out_of_order: bool,
    /// Run pending migrations whose lineage does not follow the one before them (scratch replays).
    pub allow_diverged: bool,
    pub transaction: TransactionMode,
    /// Bounds the wait for the migration lock, and for any other connection writing to the database.
    pub lock_timeout: Duration,
    /// Clears SQLite's `PRAGMA user_version`, when it is not 0, in the transaction of a command's first
    /// change to the history: for an application that owns the field and whose older builds cached in
    /// it something that a change of the history must invalidate.
    pub clear_user_version: bool,
    /// Continue the migration a run on MySQL left unfinished from the statement that did not take
    /// effect (see [`InterruptedRun`]), then go on with the plan.
    pub resume: bool,
}

/// What a command does about a migration an earlier run on MySQL left unfinished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unfinished {
    /// Refuses to run: the database is half way through a migration.
    Refuse,
    /// Continues it (`--resume`).
    Resume,
    /// Forgets the record (`repair`): the user undid what took effect by hand.
    Forget,
}

impl<'m> Migrator<'m> {
    pub fn new(migrations: &'m [Migration]) -> Self {
        Self {
            migrations,
            allow_out_of_order: false,
            allow_diverged: false,
            transaction: TransactionMode::Each,
            lock_timeout: Duration::from_secs(60),
            clear_user_version: false,
            resume: false,
        }
    }

    /// The migration an earlier run left unfinished where DDL commits itself (MySQL), read without
    /// the lock; always `None` elsewhere.
    pub fn interrupted(
        &self,
        db: &mut dyn Backend,
    ) -> Result<Option<InterruptedRun>, MigrateError> {
        db.wait_at_most(self.lock_timeout);
        read_unfinished(db)
    }

    /// What `resume` asks of the command's run: continuing an unfinished migration, or refusing.
    fn unfinished(&self) -> Unfinished {
        if self.resume {
            Unfinished::Resume
        } else {
            Unfinished::Refuse
        }
    }

    pub fn migrations(&self) -> &'m [Migration] {
        self.migrations
    }

    /// Reads where the database stands, without locking or creating anything.
    pub fn status(&self, db: &mut dyn Backend) -> Result<Status<'m>, MigrateError> {
        db.wait_at_most(self.lock_timeout);
        Ok(Status::new(db.dialect(), self.migrations, db.history()?))
    }

    pub fn upgrade(
        &self,
        db: &mut dyn Backend,
        target: &Target,
        progress: &mut dyn Progress,
    ) -> Result<Outcome<'m>, MigrateError> {
        let plan = |status: &Status<'m>| {
            let plan = status.plan_upgrade(target, self.allow_out_of_order, self.allow_diverged)?;
            self.refuse_mixed_transactions(&plan)?;
            refuse_without_dialect_sql(&plan, status.dialect())?;
            refuse_unsplittable(&plan, status.dialect())?;
            Ok((!plan.steps.is_empty()).then_some(plan))
        };
        self.refuse_transaction_all(db)?;
        self.run_plan(db, progress, plan)
    }

    pub fn downgrade(
        &self,
        db: &mut dyn Backend,
        target: &Target,
        progress: &mut dyn Progress,
    ) -> Result<Outcome<'m>, MigrateError> {
        let plan = |status: &Status<'m>| {
            let plan = status.plan_downgrade(target)?;
            self.refuse_mixed_transactions(&plan)?;
            refuse_without_dialect_sql(&plan, status.dialect())?;
            refuse_unsplittable(&plan, status.dialect())?;
            Ok((!plan.steps.is_empty()).then_some(plan))
        };
        self.refuse_transaction_all(db)?;
        self.run_plan(db, progress, plan)
    }

    fn run_plan(
        &self,
        db: &mut dyn Backend,
        progress: &mut dyn Progress,
        plan: impl Fn(&Status<'m>) -> Result<Option<Plan<'m>>, MigrateError>,
    ) -> Result<Outcome<'m>, MigrateError> {
        let mut found = None;
        let (status, done) = self.change(
            db,
            progress,
            self.unfinished(),
            &mut found,
            plan,
            |db, plan, progress, clear| {
                let ran = self.run(db, &plan, progress, clear)?;
                Ok((plan, ran))
            },
        )?;
        Ok(match done {
            None => Outcome {
                ran: Vec::new(),
                status,
            },
            Some((plan, ran)) => Outcome {
                status: after(&status, &plan),
                ran,
            },
        })
    }

    /// Records `target` as the database's revision without running SQL: every migration up to it
    /// applied, none after. `purge` also forgets the versions this binary does not know. Rows that
    /// already say what `target` needs are left as they are (when and how long they ran).
    pub fn stamp(
        &self,
        db: &mut dyn Backend,
        target: &Target,
        purge: bool,
        progress: &mut dyn Progress,
    ) -> Result<StampReport, MigrateError> {
        let tables = db.history_tables().clone();
        let prepare = |status: &Status<'m>| {
            if !purge && !status.unknown.is_empty() {
                status.verify()?;
            }
            let count = status.stamp_count(target)?;
            let mut report = StampReport::default();
            let mut sql = String::new();
            if purge {
                for row in status.unknown.iter().chain(&status.squashed) {
                    sql.push_str(&tables.forget(&row.version));
                    report
                        .removed
                        .push(row.folder.clone().unwrap_or_else(|| row.version.clone()));
                }
            }
            for (index, entry) in status.entries().iter().enumerate() {
                let migration = entry.migration;
                let applied = entry.state != State::Pending;
                if index < count && !applied {
                    sql.push_str(&tables.record(migration, status.dialect(), Duration::ZERO, true));
                    report.recorded.push(migration.folder().to_string());
                } else if index >= count && applied {
                    sql.push_str(&tables.forget(migration.version()));
                    report.removed.push(migration.folder().to_string());
                }
            }
            Ok((!sql.is_empty()).then_some((sql, report)))
        };
        let (_, done) = self.change(
            db,
            progress,
            Unfinished::Refuse,
            &mut None,
            prepare,
            |db, (sql, report), progress, clear| {
                let sql = clear.take() + &sql;
                self.in_transaction(db, progress, &sql, "stamping the history", None)?;
                Ok(report)
            },
        )?;
        Ok(done.unwrap_or_default())
    }

    /// Records the current checksum of every applied migration whose recorded one differs or is missing
    /// (applied by diesel_cli); returns their folders. The deliberate way past a `Modified` refusal.
    pub fn repair(
        &self,
        db: &mut dyn Backend,
        progress: &mut dyn Progress,
    ) -> Result<Vec<String>, MigrateError> {
        Ok(self.repair_all(db, progress)?.0)
    }

    /// [`repair`](Migrator::repair), and on MySQL also forgets the record of a migration an earlier
    /// run left unfinished (returned): the user has undone by hand what of it took effect, so it
    /// runs again from its first statement.
    pub fn repair_all(
        &self,
        db: &mut dyn Backend,
        progress: &mut dyn Progress,
    ) -> Result<(Vec<String>, Option<InterruptedRun>), MigrateError> {
        let tables = db.history_tables().clone();
        let prepare = |status: &Status<'m>| {
            let dialect = status.dialect();
            let mut sql = String::new();
            let mut repaired = Vec::new();
            for entry in status.entries() {
                let Some(row) = &entry.applied else { continue };
                if row.checksum.as_deref() != Some(entry.migration.scripts(dialect).checksum()) {
                    sql.push_str(&tables.replace_companion(
                        entry.migration,
                        dialect,
                        Duration::from_millis(row.duration_ms.unwrap_or(0).max(0) as u64),
                        row.stamped,
                    ));
                    repaired.push(entry.migration.folder().to_string());
                }
            }
            Ok((!sql.is_empty()).then_some((sql, repaired)))
        };
        let mut forgotten = None;
        let (_, done) = self.change(
            db,
            progress,
            Unfinished::Forget,
            &mut forgotten,
            prepare,
            |db, (sql, repaired), progress, clear| {
                let sql = clear.take() + &sql;
                self.in_transaction(db, progress, &sql, "repairing the history", None)?;
                Ok(repaired)
            },
        )?;
        Ok((done.unwrap_or_default(), forgotten))
    }

    /// The frame of every command that changes the database. `prepare` resolves what the command
    /// would do from a status, refusing or answering `None` for nothing to do; it runs once without
    /// the lock (so a refusal creates nothing), and again under it on a fresh read (only under it,
    /// where taking the lock writes nothing: PostgreSQL's advisory lock). `body` then does
    /// it, prepending workhub's own SQL (the `user_version` reset; on PostgreSQL, the history tables'
    /// creation; or "") to its first transaction that writes the history. Returns the
    /// status `prepare` last saw, and what `body` returned if it ran.
    ///
    /// Where DDL commits itself (MySQL), a migration an earlier run left unfinished is dealt with
    /// under the lock first, as `unfinished` says; `found` gets it when the command continues or
    /// forgets it.
    #[allow(clippy::too_many_arguments)]
    fn change<P, T>(
        &self,
        db: &mut dyn Backend,
        progress: &mut dyn Progress,
        unfinished: Unfinished,
        found: &mut Option<InterruptedRun>,
        prepare: impl Fn(&Status<'m>) -> Result<Option<P>, MigrateError>,
        body: impl FnOnce(
            &mut dyn Backend,
            P,
            &mut dyn Progress,
            &mut FirstWrite,
        ) -> Result<T, MigrateError>,
    ) -> Result<(Status<'m>, Option<T>), MigrateError> {
        if db.locks_without_writing() {
            // The lock writes nothing: taken first, so the history is read once, under it, and the
            // history tables are created only when there is work to do.
            db.wait_at_most(self.lock_timeout);
            db.lock(self.lock_timeout, &mut |holder| {
                progress.waiting_for_lock(holder)
            })?;
            let result = (|| {
                let (history, tables) = db.history_and_tables()?;
                let status = Status::new(db.dialect(), self.migrations, history);
                let resume = self.deal_with_unfinished(db, unfinished, found)?;
                let Some(prepared) = prepare(&status)? else {
                    if resume.is_some() {
                        return Err(MigrateError::CannotResume {
                            folder: found.as_ref().map_or(String::new(), |r| r.folder.clone()),
                            reason: "the command's target does not include it".into(),
                        });
                    }
                    return Ok((status, None));
                };
                let mut first = FirstWrite {
                    sql: self.user_version_reset(db)?,
                    creates_tables: false,
                    resume,
                };
                if !tables && db.run_record().is_some() {
                    // Where DDL commits itself, a CREATE TABLE would commit the transaction it is
                    // put in: the tables are created on their own, before anything else.
                    let sql = db.create_history();
                    db.execute(&sql).map_err(|cause| MigrateError::Stopped {
                        doing: "creating the history tables".into(),
                        cause,
                        undone: None,
                    })?;
                } else if !tables {
                    // Created in the first transaction that writes the history, with what it
                    // records: a first migration that fails leaves no tables behind either, and
                    // the run pays no commit of their own.
                    first.sql.push_str(&db.create_history());
                    first.sql.push_str(";\n");
                    first.creates_tables = true;
                }
                let done = body(db, prepared, progress, &mut first)?;
                Ok((status, Some(done)))
            })();
            db.unlock();
            return result;
        }
        if unfinished == Unfinished::Resume {
            return Err(self.no_record(db));
        }
        let status = self.status(db)?;
        if prepare(&status)?.is_none() {
            // Nothing to do, as read without the lock; but a migrator outside a transaction changes
            // the schema before its history, so that read may be half a run old. Confirm it under the
            // lock, writing nothing; if it no longer holds, go on as a command with work to do.
            db.lock_to_read(self.lock_timeout, &mut |holder| {
                progress.waiting_for_lock(holder)
            })?;
            let confirmed = self
                .status(db)
                .and_then(|status| Ok((prepare(&status)?.is_none(), status)));
            db.unlock();
            if let (true, status) = confirmed? {
                return Ok((status, None));
            }
        }
        db.lock(self.lock_timeout, &mut |holder| {
            progress.waiting_for_lock(holder)
        })?;
        let mut created = false;
        let result = (|| {
            let mut clear = FirstWrite {
                sql: self.user_version_reset(db)?,
                creates_tables: false,
                resume: None,
            };
            created = self.create_tables(db, progress, &mut clear)?;
            let status = self.status(db)?;
            let Some(prepared) = prepare(&status)? else {
                return Ok((status, None));
            };
            let done = body(db, prepared, progress, &mut clear)?;
            Ok((status, Some(done)))
        })();
        db.unlock();
        with_tables_created(result, created)
    }
}

/// `result`, saying in a failure that the history tables this run `created` are left: a failure that
/// changed nothing itself still leaves them.
fn with_tables_created<T>(
    result: Result<T, MigrateError>,
    created: bool,
) -> Result<T, MigrateError> {
    result.map_err(|mut err| {
        if created {
            if let MigrateError::Stopped { undone, .. }
            | MigrateError::WriterTimeout { undone, .. } = &mut err
            {
                undone.get_or_insert(Undone::TablesOnly);
            }
        }
        err
    })
}

impl<'m> Migrator<'m> {
    /// Deals with a migration an earlier run left unfinished, under the lock: refuses, forgets its
    /// record (into `found`), or returns it to be continued (also into `found`).
    fn deal_with_unfinished(
        &self,
        db: &mut dyn Backend,
        unfinished: Unfinished,
        found: &mut Option<InterruptedRun>,
    ) -> Result<Option<InterruptedRun>, MigrateError> {
        let Some(run) = read_unfinished(db)? else {
            if unfinished == Unfinished::Resume {
                return Err(self.no_record(db));
            }
            return Ok(None);
        };
        match unfinished {
            Unfinished::Refuse => Err(MigrateError::Interrupted {
                run: Box::new(run),
                stopped_now: false,
                cause: None,
            }),
            Unfinished::Resume => {
                *found = Some(run.clone());
                Ok(Some(run))
            }
            Unfinished::Forget => {
                let Some(record) = db.run_record() else {
                    return Ok(None);
                };
                let sql = record.finish(&run.version);
                db.execute(&sql).map_err(|cause| MigrateError::Stopped {
                    doing: format!("forgetting the unfinished run of {}", run.folder),
                    cause,
                    undone: None,
                })?;
                *found = Some(run);
                Ok(None)
            }
        }
    }

    /// Why `--resume` has nothing to continue on `db`.
    fn no_record(&self, db: &mut dyn Backend) -> MigrateError {
        let reason = if db.run_record().is_some() {
            "no migration was left unfinished: there is nothing to resume".to_string()
        } else {
            format!(
                "{} runs each migration in a transaction that rolls back whole, so no migration is \
                 ever left half run; only MySQL keeps a record to resume from",
                db.name()
            )
        };
        MigrateError::CannotResume {
            folder: db.name(),
            reason,
        }
    }

    /// Refuses one transaction for a whole run where DDL commits itself.
    fn refuse_transaction_all(&self, db: &mut dyn Backend) -> Result<(), MigrateError> {
        if self.transaction == TransactionMode::All && db.run_record().is_some() {
            return Err(MigrateError::NoTransactionalDdl {
                database: db.name(),
            });
        }
        Ok(())
    }

    /// The statement (with its `;` and newline) that clears `user_version`, or "" when there is
    /// nothing to clear or the option is off.
    fn user_version_reset(&self, db: &mut dyn Backend) -> Result<String, MigrateError> {
        if !self.clear_user_version {
            return Ok(String::new());
        }
        let sql = db
            .clear_user_version()
            .map_err(|cause| MigrateError::Stopped {
                doing: "reading PRAGMA user_version".into(),
                cause,
                undone: None,
            })?;
        Ok(sql.map(|sql| format!("{sql};\n")).unwrap_or_default())
    }

    /// Creates the history tables when either is missing, in one transaction with `clear`; whether
    /// it created them.
    fn create_tables(
        &self,
        db: &mut dyn Backend,
        progress: &mut dyn Progress,
        clear: &mut FirstWrite,
    ) -> Result<bool, MigrateError> {
        let failed = |doing: &str, cause| MigrateError::Stopped {
            doing: doing.into(),
            cause,
            undone: None,
        };
        let tables = db.history_tables().clone();
        let mut exists = |table| db.table_exists(table);
        let present = exists(tables.versions()).and_then(|d| Ok(d && exists(tables.companion())?));
        if !present.map_err(|m| failed("checking the history tables", m))? {
            let sql = format!("{}{}", clear.take(), db.create_history());
            self.in_transaction(db, progress, &sql, "creating the history tables", None)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Begins a transaction for `doing`, waiting at most the lock timeout for another connection that
    /// is writing; a failure leaves what `undone` says (`None`: nothing changed).
    fn begin(
        &self,
        db: &mut dyn Backend,
        progress: &mut dyn Progress,
        doing: &str,
        undone: Option<Undone>,
    ) -> Result<(), MigrateError> {
        db.begin(self.lock_timeout, &mut |name| {
            progress.waiting_for_writer(name)
        })
        .map_err(|err| match err {
            BeginError::Busy { waited } => MigrateError::WriterTimeout {
                doing: doing.to_string(),
                waited,
                undone,
            },
            BeginError::Failed(cause) => MigrateError::Stopped {
                doing: doing.to_string(),
                cause,
                undone,
            },
        })
    }

    /// Begins the migration's own transaction and runs its script, in one round trip, after `first`
    /// (workhub's own SQL for the run's first transaction, or ""). Only a failure splits it: the
    /// transaction is begun again, `first` run alone, and the
    /// statements one by one, so that the error names the statement that failed, and only when
    /// it fails with the script's own message; otherwise (the failure did not recur, or differs) the
    /// error is the script's, for the whole script. A script seen waiting for another session's lock
    /// is not run again, so a lock timeout is never waited out twice. The caller rolls back what is
    /// left.
    fn run_script(
        &self,
        db: &mut dyn Backend,
        progress: &mut dyn Progress,
        migration: &Migration,
        direction: Direction,
        first: &FirstWrite,
        sql: &str,
    ) -> Result<(), MigrateError> {
        let begun_with_script = format!("BEGIN;\n{}{sql}", first.sql);
        let Err(cause) = db.execute_statement(migration.folder(), &begun_with_script) else {
            return Ok(());
        };
        let whole = |cause| MigrateError::Statement {
            folder: migration.folder().to_string(),
            direction,
            statement: sql.trim().to_string(),
            cause,
            undone: Undone::Migration,
        };
        if db.statement_was_blocked() || cause.is_lock_timeout() {
            return Err(whole(cause));
        }
        if ends_transaction(sql, db.dialect()) {
            // The script's own COMMIT (or ROLLBACK) ended workhub's transaction: what it committed
            // stays, so running it again would run that twice.
            return Err(MigrateError::Statement {
                folder: migration.folder().to_string(),
                direction,
                statement: sql.trim().to_string(),
                cause,
                undone: Undone::ScriptEndedTransaction,
            });
        }
        let doing = format!("starting {}", migration.folder());
        let again = db.execute("ROLLBACK").is_ok()
            && self
                .begin(db, progress, &doing, Some(Undone::Migration))
                .is_ok();
        if !again {
            return Err(whole(cause));
        }
        if !first.sql.is_empty() {
            // Failing alone, it is what failed: the migration's script never ran.
            if let Err(cause) = db.execute(&first.sql) {
                let undone = (!first.creates_tables).then_some(Undone::Migration);
                return Err(first_failed(migration, first.creates_tables, cause, undone));
            }
        }
        match run_statements(db, migration, direction, sql) {
            Err(MigrateError::Statement {
                statement,
                cause: again,
                ..
            }) if cause.to_string().starts_with(&again.to_string()) => {
                Err(MigrateError::Statement {
                    folder: migration.folder().to_string(),
                    direction,
                    statement,
                    cause,
                    undone: Undone::Migration,
                })
            }
            _ => Err(whole(cause)),
        }
    }

    /// Runs `sql` in one transaction, rolled back whole on any failure.
    fn in_transaction(
        &self,
        db: &mut dyn Backend,
        progress: &mut dyn Progress,
        sql: &str,
        doing: &str,
        undone: Option<Undone>,
    ) -> Result<(), MigrateError> {
        if sql.is_empty() {
            return Ok(());
        }
        // Where each statement costs a round trip, one for all of it: the SQL is workhub's own.
        let run = if db.runs_scripts_whole() {
            db.execute(&format!("BEGIN;\n{sql};\nCOMMIT"))
        } else {
            self.begin(db, progress, doing, undone)?;
            db.execute(sql).and_then(|()| db.execute("COMMIT"))
        };
        if let Err(cause) = run {
            let _ = db.execute("ROLLBACK");
            return Err(MigrateError::Stopped {
                doing: doing.to_string(),
                cause,
                undone,
            });
        }
        Ok(())
    }

    /// Refuses `--transaction all` over a migration that must run outside a transaction.
    fn refuse_mixed_transactions(&self, plan: &Plan<'m>) -> Result<(), MigrateError> {
        refuse_mixed_transactions(plan, self.transaction)
    }

    fn run(
        &self,
        db: &mut dyn Backend,
        plan: &Plan<'m>,
        progress: &mut dyn Progress,
        clear: &mut FirstWrite,
    ) -> Result<Vec<Ran>, MigrateError> {
        let dialect = db.dialect();
        let total = plan.steps.len();
        let mut ran = Vec::with_capacity(total);
        if let Some(notice) = progress.blocked_notice() {
            db.watch_waits(notice);
        }
        let all = self.transaction == TransactionMode::All && total > 0;
        // Where DDL commits itself, no migration runs in a transaction: its record says how far it got.
        let tracked = db.run_record().is_some();
        if let Some(run) = &clear.resume {
            // The unfinished migration comes first, or the resume would run others around it.
            let first = plan.steps.first().map(|m| m.version());
            if plan.direction != run.direction || first != Some(run.version.as_str()) {
                let command = match run.direction {
                    Direction::Up => "an upgrade",
                    Direction::Down => "a downgrade",
                };
                return Err(MigrateError::CannotResume {
                    folder: run.folder.clone(),
                    reason: format!(
                        "it was interrupted in {command} ({}), so only {command} whose first \
                         step is it continues it",
                        run.direction
                    ),
                });
            }
        }
        if clear.creates_tables
            && !all
            && plan.steps.first().is_some_and(|m| !m.run_in_transaction())
        {
            // A first migration outside a transaction cannot take the tables' creation along: its
            // statements would take effect before the tables that record them are known to be
            // possible. Created first, on their own; a failure there leaves nothing.
            let sql = clear.take();
            self.in_transaction(db, progress, &sql, "creating the history tables", None)?;
        }
        if all {
            let doing = format!("starting {}", plan.steps[0].folder());
            self.begin(db, progress, &doing, None)?;
        }
        for (index, migration) in plan.steps.iter().copied().enumerate() {
            progress.started(index, total, migration, plan.direction);
            let started = Instant::now();
            let sql = script_of(migration, dialect, plan.direction);
            let own_transaction = !all && !tracked && migration.run_in_transaction();
            let undone = match (all, own_transaction) {
                (true, _) => Undone::Run,
                (false, true) => Undone::Migration,
                (false, false) => Undone::Nothing,
            };
            // Where each statement costs a round trip to a server, the migration's transaction
            // begins in the script's round trip, and its history rows and COMMIT share one: only
            // SQL of workhub's own is put beside the script, and only before it, where nothing in
            // the script can swallow it.
            let whole = own_transaction && db.runs_scripts_whole();
            if own_transaction && !whole {
                // Nothing of this migration ran; those before it are committed.
                let earlier = (index > 0).then_some(Undone::NotStarted);
                self.begin(
                    db,
                    progress,
                    &format!("starting {}", migration.folder()),
                    earlier,
                )?;
            }
            // The first change to the history carries the reset of user_version.
            let cleared = if undone != Undone::Nothing && !whole && !clear.sql.is_empty() {
                let creates_tables = clear.creates_tables;
                db.execute(&clear.take())
                    .map_err(|cause| first_failed(migration, creates_tables, cause, Some(undone)))
            } else {
                Ok(())
            };
            let outcome = cleared
                .and_then(|()| {
                    if whole {
                        let first = std::mem::take(clear);
                        self.run_script(db, progress, migration, plan.direction, &first, sql)
                    } else if tracked {
                        let resume = clear.resume.take_if(|run| {
                            run.version == migration.version() && run.direction == plan.direction
                        });
                        run_tracked(db, migration, plan.direction, sql, resume)
                    } else {
                        let ran = run_statements(db, migration, plan.direction, sql);
                        if !own_transaction {
                            db.script_ran_outside_transaction();
                        }
                        ran
                    }
                })
                .and_then(|()| {
                    let took = started.elapsed();
                    let tables = db.history_tables();
                    let history = match plan.direction {
                        Direction::Up => tables.record(migration, dialect, took, false),
                        Direction::Down => tables.forget(migration.version()),
                    };
                    if let Some(record) = db.run_record() {
                        // The record goes with the rows that say the migration is done, and the
                        // next migration's record comes with them: one commit for both.
                        let history = clear.take() + &history;
                        let next = plan.steps.get(index + 1).map(|next| {
                            let sql = script_of(next, dialect, plan.direction);
                            let statements = statements::split(sql, dialect);
                            started_run(next, plan.direction, &statements, 0)
                        });
                        record
                            .record_done(migration.version(), &history, next.as_ref())
                            .map_err(|cause| failed(migration, "recording", cause, Some(undone)))?;
                    } else if whole {
                        db.execute(&format!("{history}COMMIT")).map_err(|message| {
                            failed(migration, "recording and committing", message, Some(undone))
                        })?;
                    } else if undone == Undone::Nothing {
                        let history = clear.take() + &history;
                        let doing = format!("recording {}", migration.folder());
                        self.in_transaction(db, progress, &history, &doing, Some(undone))?;
                    } else {
                        db.execute(&history)
                            .map_err(|cause| failed(migration, "recording", cause, Some(undone)))?;
                    }
                    Ok(took)
                });
            let outcome = outcome.and_then(|took| {
                if own_transaction && !whole {
                    db.execute("COMMIT")
                        .map_err(|cause| failed(migration, "committing", cause, Some(undone)))?;
                }
                Ok(took)
            });
            match outcome {
                Ok(_) => {
                    // What the user waited for it, its commit included (the history row, written
                    // before the commit, records the time up to it).
                    let took = started.elapsed();
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
                        // Unless the script itself took the transaction's end out of our hands.
                        if *slot != Undone::ScriptEndedTransaction {
                            *slot = undone;
                        }
                    }
                    return Err(err);
                }
            }
        }
        if all {
            if let Err(cause) = db.execute("COMMIT") {
                let _ = db.execute("ROLLBACK");
                return Err(failed(
                    plan.steps[total - 1],
                    "committing",
                    cause,
                    Some(Undone::Run),
                ));
            }
            for (index, (migration, done)) in plan.steps.iter().zip(&ran).enumerate() {
                progress.finished(index, total, migration, plan.direction, done.took);
            }
        }
        Ok(ran)
    }
}

/// `status` with `plan` done: its migrations recorded (up) or forgotten (down), as the run recorded
/// them, so a run need not read the history again to report where it ended.
fn after<'m>(status: &Status<'m>, plan: &Plan<'m>) -> Status<'m> {
    let dialect = status.dialect();
    let mut rows: Vec<AppliedMigration> = status
        .entries()
        .iter()
        .filter_map(|entry| entry.applied.clone())
        .chain(status.unknown.iter().chain(&status.squashed).cloned())
        .collect();
    for migration in &plan.steps {
        rows.retain(|row| row.version != migration.version());
        if plan.direction == Direction::Up {
            rows.push(AppliedMigration {
                version: migration.version().to_string(),
                folder: Some(migration.folder().to_string()),
                checksum: Some(migration.scripts(dialect).checksum().to_string()),
                applied_at: None,
                duration_ms: None,
                stamped: false,
            });
        }
    }
    Status::new(dialect, status.migrations(), rows)
}

/// Runs `migration`'s statements one by one under its run record (where DDL commits itself), from
/// the first or, continuing `resume`, from the one that did not take effect; a failure is recorded
/// and reported with what took effect.
fn run_tracked(
    db: &mut dyn Backend,
    migration: &Migration,
    direction: Direction,
    sql: &str,
    resume: Option<InterruptedRun>,
) -> Result<(), MigrateError> {
    let dialect = db.dialect();
    let statements = statements::split(sql, dialect);
    let start = match &resume {
        None => 0,
        Some(run) => {
            let cannot = |reason: String| MigrateError::CannotResume {
                folder: migration.folder().to_string(),
                reason,
            };
            if run.done > statements.len() {
                return Err(cannot(format!(
                    "its record says {} statements took effect, and its script now has {}",
                    run.done,
                    statements.len()
                )));
            }
            if prefix_checksum(&statements[..run.done]) != run.done_checksum {
                return Err(cannot(format!(
                    "{} changed since the statements that took effect ran ({}): a resume runs \
                     the rest of the script as it was; restore them, or undo what took effect and \
                     `repair`",
                    script_file(direction),
                    run.took_effect()
                )));
            }
            run.done
        }
    };
    let recording = |cause| MigrateError::Stopped {
        doing: format!("recording the start of {}", migration.folder()),
        cause,
        undone: None,
    };
    let mut run = started_run(migration, direction, &statements, start);
    let Some(record) = db.run_record() else {
        unreachable!("run_tracked runs only where the backend keeps a run record");
    };
    record.start(&run).map_err(recording)?;
    for (index, statement) in statements.iter().enumerate().skip(start) {
        let done_checksum = prefix_checksum(&statements[..=index]);
        if let Err(cause) =
            record.statement(migration.version(), statement, index + 1, &done_checksum)
        {
            // Best effort: when the connection itself is gone, the record still says how far it got.
            let _ = record.failed(migration.version(), statement, &cause.to_string());
            run.done = index;
            run.done_checksum = prefix_checksum(&statements[..index]);
            run.failure = Some((statement.to_string(), cause.to_string()));
            return Err(MigrateError::Interrupted {
                run: Box::new(run),
                stopped_now: true,
                cause: Some(cause),
            });
        }
    }
    Ok(())
}

/// The record of `migration` (whose script is `statements`) starting in `direction` with its first
/// `done` statements done.
pub(crate) fn started_run(
    migration: &Migration,
    direction: Direction,
    statements: &[&str],
    done: usize,
) -> InterruptedRun {
    InterruptedRun {
        version: migration.version().to_string(),
        folder: migration.folder().to_string(),
        direction,
        statements: statements.len(),
        done,
        done_checksum: prefix_checksum(&statements[..done]),
        failure: None,
        started_at: None,
        by_script: false,
    }
}

/// `migration`'s script for `dialect` in `direction` ("" for a missing down script).
pub(crate) fn script_of(migration: &Migration, dialect: Dialect, direction: Direction) -> &str {
    let scripts = migration.scripts(dialect);
    match direction {
        Direction::Up => scripts.up(),
        Direction::Down => scripts.down().unwrap_or_default(),
    }
}

/// The file a migration's SQL for MySQL is read from in `direction`.
fn script_file(direction: Direction) -> &'static str {
    match direction {
        Direction::Up => "up.mysql.sql",
        Direction::Down => "down.mysql.sql",
    }
}

fn run_statements(
    db: &mut dyn Backend,
    migration: &Migration,
    direction: Direction,
    sql: &str,
) -> Result<(), MigrateError> {
    for statement in statements::split(sql, db.dialect()) {
        db.execute_statement(migration.folder(), statement)
            .map_err(|cause| MigrateError::Statement {
                folder: migration.folder().to_string(),
                direction,
                statement: statement.to_string(),
                cause,
                undone: Undone::Migration,
            })?;
    }
    Ok(())
}

/// The unfinished migration `db` records, where it keeps such a record.
fn read_unfinished(db: &mut dyn Backend) -> Result<Option<InterruptedRun>, MigrateError> {
    let Some(record) = db.run_record() else {
        return Ok(None);
    };
    record.read().map_err(|cause| MigrateError::Stopped {
        doing: "reading the record of unfinished migrations".into(),
        cause,
        undone: None,
    })
}

/// Refuses a plan on MySQL with migrations that have no SQL written for it, naming every one.
pub(crate) fn refuse_without_dialect_sql(
    plan: &Plan<'_>,
    dialect: Dialect,
) -> Result<(), MigrateError> {
    let missing: Vec<String> = plan
        .steps
        .iter()
        .filter(|m| !m.runs_on(dialect))
        .map(|m| m.folder().to_string())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(MigrateError::NoMysqlScripts {
        folders: missing,
        file: script_file(plan.direction),
    })
}

/// Refuses a plan on MySQL with a script that cannot be split as its author meant, before anything
/// runs: each statement's effect stays there, so a statement cut in two must not start.
pub(crate) fn refuse_unsplittable(plan: &Plan<'_>, dialect: Dialect) -> Result<(), MigrateError> {
    if dialect != Dialect::Mysql {
        return Ok(());
    }
    let file = script_file(plan.direction);
    for migration in &plan.steps {
        let sql = script_of(migration, dialect, plan.direction);
        if let Some(problem) = statements::split_mysql(sql).problem {
            return Err(MigrateError::UnsplittableScript {
                folder: migration.folder().to_string(),
                file,
                problem,
            });
        }
    }
    Ok(())
}

/// Refuses one transaction for all (`mode`) over a migration of `plan` that must run outside one.
pub(crate) fn refuse_mixed_transactions(
    plan: &Plan<'_>,
    mode: TransactionMode,
) -> Result<(), MigrateError> {
    let outside: Vec<String> = plan
        .steps
        .iter()
        .filter(|m| !m.run_in_transaction())
        .map(|m| m.folder().to_string())
        .collect();
    if mode == TransactionMode::All && !outside.is_empty() {
        return Err(MigrateError::NeedsOwnTransaction { folders: outside });
    }
    Ok(())
}

/// workhub's own SQL for the first transaction of a command that writes the history: the
/// `user_version` reset and, on a database that has no history tables yet, their creation.
#[derive(Debug, Default)]
struct FirstWrite {
    sql: String,
    creates_tables: bool,
    /// The unfinished migration this run continues (`--resume`), taken by the step that runs it.
    resume: Option<InterruptedRun>,
}

impl FirstWrite {
    /// The SQL, once: whoever runs it takes it.
    fn take(&mut self) -> String {
        self.creates_tables = false;
        std::mem::take(&mut self.sql)
    }
}

/// The first write failing on its own: the history tables' creation, or the start of `migration`.
fn first_failed(
    migration: &Migration,
    creates_tables: bool,
    cause: DatabaseError,
    undone: Option<Undone>,
) -> MigrateError {
    if creates_tables {
        return MigrateError::Stopped {
            doing: "creating the history tables".into(),
            cause,
            undone,
        };
    }
    failed(migration, "starting", cause, undone)
}

/// Whether `sql` ends the transaction it runs in itself: a top-level `COMMIT`, `END`, `ROLLBACK`
/// (not `ROLLBACK TO` a savepoint) or `ABORT`.
fn ends_transaction(sql: &str, dialect: Dialect) -> bool {
    statements::split(sql, dialect)
        .into_iter()
        .any(|statement| {
            let mut words =
                statements::identifiers(statement, dialect).map(|word| word.to_ascii_uppercase());
            match words.next().as_deref() {
                Some("COMMIT" | "END" | "ABORT") => true,
                Some("ROLLBACK") => !matches!(words.next().as_deref(), Some("TO")),
                _ => false,
            }
        })
}

/// A failure of the bookkeeping around a migration's statements: `doing` is "starting",
/// "recording" or "committing".
fn failed(
    migration: &Migration,
    doing: &str,
    cause: DatabaseError,
    undone: Option<Undone>,
) -> MigrateError {
    MigrateError::Stopped {
        doing: format!("{doing} {}", migration.folder()),
        cause,
        undone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::{Silent, Sqlite};
    use crate::{Dialect, Scripts};

    /// A SQLite database whose transactions fail to begin from the `fail_at`-th on (0-based).
    struct FailingBegin {
        inner: Sqlite<'static>,
        begins: usize,
        fail_at: usize,
    }

    impl Backend for FailingBegin {
        fn dialect(&self) -> Dialect {
            self.inner.dialect()
        }
        fn name(&self) -> String {
            self.inner.name()
        }
        fn lock(&mut self, t: Duration, w: &mut dyn FnMut(&str)) -> Result<(), MigrateError> {
            self.inner.lock(t, w)
        }
        fn unlock(&mut self) {
            self.inner.unlock()
        }
        fn execute(&mut self, sql: &str) -> Result<(), DatabaseError> {
            self.inner.execute(sql)
        }
        fn begin(&mut self, t: Duration, w: &mut dyn FnMut(&str)) -> Result<(), BeginError> {
            self.begins += 1;
            if self.begins > self.fail_at {
                return Err(BeginError::Failed(DatabaseError::Query(
                    diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::Unknown,
                        Box::new("disk I/O error".to_string()),
                    ),
                )));
            }
            self.inner.begin(t, w)
        }
        fn table_exists(&mut self, table: &str) -> Result<bool, DatabaseError> {
            self.inner.table_exists(table)
        }
        fn load_history(&mut self, companion: bool) -> Result<Vec<AppliedMigration>, MigrateError> {
            self.inner.load_history(companion)
        }
    }

    fn migrations() -> Vec<Migration> {
        (1..=2)
            .map(|n| {
                Migration::new(
                    format!("2024-01-01-00000{n}_m{n}"),
                    format!("2024010100000{n}"),
                    format!("m{n}"),
                    true,
                    Scripts::new(format!("CREATE TABLE t{n} (id INTEGER);"), None),
                    None,
                )
            })
            .collect()
    }

    fn failing(fail_at: usize) -> (tempfile::TempDir, FailingBegin) {
        let dir = tempfile::tempdir().unwrap();
        let inner = Sqlite::open(&dir.path().join("x.db")).unwrap();
        let db = FailingBegin {
            inner,
            begins: 0,
            fail_at,
        };
        (dir, db)
    }

    #[test]
    fn a_migration_that_never_began_is_not_said_to_be_rolled_back() {
        let migrations = migrations();
        // Begins: the history tables, the first migration, then the second fails.
        let (_dir, mut db) = failing(2);
        let err = Migrator::new(&migrations)
            .upgrade(&mut db, &Target::Head, &mut Silent)
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("starting 2024-01-01-000002_m2"), "{text}");
        assert!(text.contains("the migration did not start"), "{text}");
        assert!(!text.contains("rolled back"), "{text}");
    }

    #[test]
    fn a_failure_after_the_history_tables_were_created_says_so() {
        let migrations = migrations();
        // Begins: the history tables, then the first migration fails.
        let (_dir, mut db) = failing(1);
        let err = Migrator::new(&migrations)
            .upgrade(&mut db, &Target::Head, &mut Silent)
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("only the empty history tables were created"),
            "{text}"
        );
        assert!(!text.contains("nothing was changed"), "{text}");
    }
}
