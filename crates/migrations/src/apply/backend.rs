use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::query_builder::SqlQuery;
use diesel::query_dsl::LoadQuery;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel::{Connection, QueryableByName, RunQueryDsl};

use super::progress::BlockedNotice;
use crate::history::{AppliedMigration, HistoryTables, InterruptedRun};
use crate::{DatabaseError, Dialect, MigrateError};

/// What differs between databases: how to lock out other migrators, how a transaction begins, how to
/// tell whether a table exists. Everything else the [`Migrator`](crate::Migrator) does with plain SQL.
pub trait Backend {
    fn dialect(&self) -> Dialect;

    /// The tables this database's history is kept in.
    fn history_tables(&self) -> &HistoryTables {
        &DEFAULT_TABLES
    }

    /// The database as a user names it (a path, or a URL without its password), for messages.
    fn name(&self) -> String;

    /// Bounds every wait on another connection of this database to `timeout`.
    fn wait_at_most(&mut self, _timeout: Duration) {}

    /// Takes the migration lock, waiting at most `timeout`; `waiting` hears once who holds it.
    fn lock(
        &mut self,
        timeout: Duration,
        waiting: &mut dyn FnMut(&str),
    ) -> Result<(), MigrateError>;

    /// Takes the migration lock only to confirm what a read without it found, writing nothing (no
    /// file, no note); released with [`unlock`](Backend::unlock). A database that does not exist yet
    /// has nothing to confirm.
    fn lock_to_read(
        &mut self,
        timeout: Duration,
        waiting: &mut dyn FnMut(&str),
    ) -> Result<(), MigrateError> {
        self.lock(timeout, waiting)
    }

    /// Releases the lock. Also released when the process or its connection dies.
    fn unlock(&mut self);

    /// Runs SQL (one or more statements); a failure is the database's.
    fn execute(&mut self, sql: &str) -> Result<(), DatabaseError>;

    /// Runs one statement of migration `folder`. Where the backend can watch it (see
    /// [`watch_waits`](Backend::watch_waits)), a wait on another session's lock is announced while it
    /// lasts and named in the statement's error.
    fn execute_statement(&mut self, _folder: &str, sql: &str) -> Result<(), DatabaseError> {
        self.execute(sql)
    }

    /// Whether a migration's script runs in one round trip (split into statements only to name the
    /// failing one): where each statement costs a round trip to a server.
    fn runs_scripts_whole(&self) -> bool {
        false
    }

    /// Whether the last statement run with [`execute_statement`](Backend::execute_statement) was
    /// seen waiting for another session's lock.
    fn statement_was_blocked(&self) -> bool {
        false
    }

    /// A migration's own SQL ran outside a transaction, where a `SET` it made (a `lock_timeout`)
    /// outlives it: the session gets the engine's settings again before its next statement.
    fn script_ran_outside_transaction(&mut self) {}

    /// From now on, `notice` hears (from another thread) whom a statement run with
    /// [`execute_statement`](Backend::execute_statement) waits for, where the database can tell.
    fn watch_waits(&mut self, _notice: BlockedNotice) {}

    /// Opens a transaction that also keeps other writers out while it runs, waiting at most
    /// `timeout` for another connection that is writing; `waiting` hears once, naming the database.
    fn begin(&mut self, timeout: Duration, waiting: &mut dyn FnMut(&str))
        -> Result<(), BeginError>;

    fn table_exists(&mut self, table: &str) -> Result<bool, DatabaseError>;

    /// Reads the history tables, which exist (the companion one when `companion_exists`).
    fn load_history(
        &mut self,
        companion_exists: bool,
    ) -> Result<Vec<AppliedMigration>, MigrateError>;

    /// The statement that clears SQLite's `PRAGMA user_version` when it is not 0; `None` when there is
    /// nothing to clear (always, where the backend has no such field).
    fn clear_user_version(&mut self) -> Result<Option<&'static str>, DatabaseError> {
        Ok(None)
    }

    /// Every applied version with what the companion table knows of it; empty when the history tables
    /// do not exist yet (they are created only by a command that changes the database).
    fn history(&mut self) -> Result<Vec<AppliedMigration>, MigrateError> {
        Ok(self.history_and_tables()?.0)
    }

    /// The [`history`](Backend::history), and whether both history tables exist.
    fn history_and_tables(&mut self) -> Result<(Vec<AppliedMigration>, bool), MigrateError> {
        let failed = |cause| MigrateError::Stopped {
            doing: "reading the migration history".into(),
            cause,
            undone: None,
        };
        let tables = self.history_tables().clone();
        if !self.table_exists(tables.versions()).map_err(failed)? {
            return Ok((Vec::new(), false));
        }
        let companion = self.table_exists(tables.companion()).map_err(failed)?;
        Ok((self.load_history(companion)?, companion))
    }

    /// Whether taking the migration lock writes nothing to the database (no file, no row), so that a
    /// command may take it before it reads the history, and read it only once.
    fn locks_without_writing(&self) -> bool {
        false
    }

    /// The statements that create the history tables when they are missing.
    fn create_history(&self) -> String {
        self.history_tables().create()
    }

    /// Where DDL commits itself (MySQL), the record of each migration as it runs; `None` where a
    /// migration's statements run in a transaction that rolls them back together.
    fn run_record(&mut self) -> Option<&mut dyn RunRecord> {
        None
    }
}

/// The record a backend whose DDL commits itself keeps of a migration while it runs (see
/// [`history::run`](crate::history::run)): written before the first statement, moved on after each,
/// deleted with the history rows that record the migration done.
pub trait RunRecord {
    /// The migration that started and did not finish, if one did.
    fn read(&mut self) -> Result<Option<InterruptedRun>, DatabaseError>;
    /// Records `run` as started (replacing any record its version has).
    fn start(&mut self, run: &InterruptedRun) -> Result<(), DatabaseError>;
    /// Runs statement `sql` of migration `version` and, once it succeeded, records `done`
    /// statements done, whose checksum is `done_checksum`; the migration's last statement may
    /// instead be left open in a transaction that [`record_done`](RunRecord::record_done) commits.
    /// A failed statement leaves no transaction open.
    fn statement(
        &mut self,
        version: &str,
        sql: &str,
        done: usize,
        done_checksum: &str,
    ) -> Result<(), DatabaseError>;
    /// Records that `statement` of migration `version` failed with `error`.
    fn failed(&mut self, version: &str, statement: &str, error: &str) -> Result<(), DatabaseError>;
    /// The statement (with its `;` and newline) that deletes the record of `version`, run alone when
    /// the record is given up (`repair`).
    fn finish(&self, version: &str) -> String;
    /// Commits `history` (the rows that record migration `version` done, each statement ending in
    /// `;` and a newline) with the deletion of its record, in one transaction, which also holds the
    /// migration's last statement when [`statement`](RunRecord::statement) left it open there, and
    /// the start of `next`, the migration that runs right after (so that its
    /// [`start`](RunRecord::start) writes nothing more). Rolled back whole on failure.
    fn record_done(
        &mut self,
        version: &str,
        history: &str,
        next: Option<&InterruptedRun>,
    ) -> Result<(), DatabaseError>;
}

static DEFAULT_TABLES: HistoryTables = HistoryTables::DEFAULT;

/// Why a transaction did not begin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BeginError {
    /// Another connection kept writing to the database for the whole wait.
    #[error("another connection kept writing to the database for {:.1}s", waited.as_secs_f64())]
    Busy { waited: Duration },
    /// The database failed to begin it.
    #[error(transparent)]
    Failed(#[from] DatabaseError),
}

#[derive(QueryableByName)]
pub(crate) struct HistoryRow {
    #[diesel(sql_type = Text)]
    version: String,
    #[diesel(sql_type = Nullable<Text>)]
    folder: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    checksum: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    applied_at: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    duration_ms: Option<i64>,
    #[diesel(sql_type = Bool)]
    stamped: bool,
}

#[derive(QueryableByName)]
pub(crate) struct VersionRow {
    #[diesel(sql_type = Text)]
    version: String,
}

/// Reads the history through any diesel connection, once the backend has said which tables exist.
pub(crate) fn query_history<C>(
    conn: &mut C,
    tables: &HistoryTables,
    dialect: Dialect,
    companion_exists: bool,
) -> Result<Vec<AppliedMigration>, MigrateError>
where
    C: Connection,
    for<'a> SqlQuery: LoadQuery<'a, C, HistoryRow> + LoadQuery<'a, C, VersionRow>,
{
    let failed = |err| MigrateError::Stopped {
        doing: "reading the migration history".into(),
        cause: DatabaseError::Query(err),
        undone: None,
    };
    if !companion_exists {
        // A database diesel_cli migrated: versions only.
        let rows: Vec<VersionRow> = diesel::sql_query(tables.select_versions())
            .load(conn)
            .map_err(failed)?;
        return Ok(rows
            .into_iter()
            .map(|row| AppliedMigration {
                version: row.version,
                folder: None,
                checksum: None,
                applied_at: None,
                duration_ms: None,
                stamped: false,
            })
            .collect());
    }
    let rows: Vec<HistoryRow> = diesel::sql_query(tables.select_applied(dialect))
        .load(conn)
        .map_err(failed)?;
    Ok(rows
        .into_iter()
        .map(|row| AppliedMigration {
            version: row.version,
            folder: row.folder,
            checksum: row.checksum,
            applied_at: row.applied_at,
            duration_ms: row.duration_ms,
            stamped: row.stamped,
        })
        .collect())
}

pub(crate) fn batch(conn: &mut impl SimpleConnection, sql: &str) -> Result<(), DatabaseError> {
    conn.batch_execute(sql).map_err(DatabaseError::Query)
}
