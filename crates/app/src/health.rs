//! `GET /health`, answered in time independent of the migration history's length.
//!
//! Load balancers call it every second on every replica, and reading a history of thousands of
//! migrations on a new connection each time cost more than the service's own requests. So the check
//! keeps one connection of its own and reads the history again only when the database says it may
//! have changed since the last read:
//!
//! - SQLite: `PRAGMA data_version`, which moves whenever another connection commits to the file
//!   (the service's own writes included, so it says "maybe" far more often than the history changes,
//!   never less), and the file's identity, so a database restored by moving a backup into place is
//!   read from the new file;
//! - PostgreSQL: the server's WAL position, which moves with every write to any database of the
//!   server, the history's included;
//! - MySQL and MariaDB: InnoDB's log sequence number (MariaDB's `Innodb_lsn_current`, MySQL's
//!   `Innodb_redo_log_current_lsn` from 8.0.30), which moves with every write to any InnoDB table
//!   of the server, the history's included, and with every commit. An older MySQL shows neither:
//!   there the history is read on every request.
//!
//! The signal is read before the history, in a statement of its own, so a change that commits in
//! between moves the signal past what the cached read saw. Requests take turns on the one
//! connection: however many arrive at once, the check uses one blocking thread.

use std::sync::Arc;

use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{QueryableByName, RunQueryDsl};
use tokio::sync::Mutex;
use workhub_migrate_cli::context::Context;
use workhub_migrate_cli::failure::Failure;
use workhub_migrations::{Database, DatabaseUrl, MigrateError};

/// What `/health` reports of the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The newest applied migration's version.
    pub revision: Option<String>,
    /// Migrations of this build not applied.
    pub pending: usize,
    /// Whether the database is exactly at this build's head.
    pub at_head: bool,
}

/// The health check's connection and what it last read.
#[derive(Debug)]
pub struct HealthCheck {
    ctx: Arc<Context>,
    watched: Mutex<Option<Watched>>,
}

impl HealthCheck {
    pub fn new(ctx: Arc<Context>) -> Self {
        Self {
            ctx,
            watched: Mutex::new(None),
        }
    }

    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The database's state now: from the last read when the database says nothing changed since.
    pub async fn report(&self) -> Result<Report, Failure> {
        let mut slot = self.watched.lock().await;
        let mut watched = slot.take();
        let ctx = Arc::clone(&self.ctx);
        let (watched, report) = tokio::task::spawn_blocking(move || {
            let report = check(&ctx, &mut watched);
            if report.is_err() {
                // Whatever went wrong, the next request starts on a new connection.
                watched = None;
            }
            (watched, report)
        })
        .await
        .map_err(|err| Failure::failed(format!("the health check's task failed: {err}")))?;
        *slot = watched;
        report
    }
}

/// The health check's own connection, with the signal and report of its last history read.
#[derive(Debug)]
struct Watched {
    db: Database,
    /// The SQLite file the connection opened.
    file: Option<FileIdentity>,
    last: Option<(Signal, Report)>,
}

/// What the database says of its own changes; equal values mean nothing committed in between.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Signal {
    Sqlite(i64),
    Postgres(String),
    #[cfg(feature = "mysql")]
    Mysql(String),
}

fn check(ctx: &Context, watched: &mut Option<Watched>) -> Result<Report, Failure> {
    if let (Some(current), DatabaseUrl::Sqlite(path)) = (&*watched, &ctx.url) {
        if current.file.is_none() || current.file != FileIdentity::of(path) {
            *watched = None;
        }
    }
    let watched = match watched {
        Some(watched) => watched,
        None => watched.insert(Watched::open(ctx)?),
    };
    // A server that will not say (a role the function is revoked from) gets the history read each
    // time: slower, never wrong. A connection that is gone fails the history read below.
    let signal = watched.signal().ok();
    if let (Some(signal), Some((seen, report))) = (&signal, &watched.last) {
        if seen == signal {
            return Ok(report.clone());
        }
    }
    let status = ctx
        .migrator()
        .status(watched.db.backend())
        .map_err(|err| ctx.failure(err))?;
    let report = Report {
        revision: status.current().map(|m| m.version().to_string()),
        pending: status.pending().count(),
        at_head: status.is_at_head(),
    };
    watched.last = signal.map(|signal| (signal, report.clone()));
    Ok(report)
}

impl Watched {
    fn open(ctx: &Context) -> Result<Self, Failure> {
        let file = match &ctx.url {
            DatabaseUrl::Sqlite(path) => FileIdentity::of(path),
            DatabaseUrl::Postgres(_) | DatabaseUrl::Mysql(_) => None,
        };
        let db = Database::open(&ctx.url).map_err(|err| ctx.failure(err))?;
        if !db.exists() {
            return Err(Failure::Unreachable(format!(
                "no database at {}: the file does not exist",
                ctx.url
            )));
        }
        Ok(Self {
            db,
            file,
            last: None,
        })
    }

    fn signal(&mut self) -> Result<Signal, MigrateError> {
        #[derive(QueryableByName)]
        struct DataVersion {
            #[diesel(sql_type = BigInt)]
            data_version: i64,
        }
        #[derive(QueryableByName)]
        struct Position {
            #[diesel(sql_type = Nullable<Text>)]
            lsn: Option<String>,
        }
        let failed = |err| MigrateError::Database {
            doing: "asking the database whether it changed".into(),
            cause: workhub_migrations::DatabaseError::Query(err),
        };
        match &mut self.db {
            Database::Sqlite(db) => {
                let row: DataVersion = diesel::sql_query("PRAGMA data_version")
                    .get_result(db.connection()?)
                    .map_err(failed)?;
                Ok(Signal::Sqlite(row.data_version))
            }
            Database::Postgres(db) => {
                // A standby has no insert position of its own: what it has replayed is its change.
                let row: Position = diesel::sql_query(
                    "SELECT CAST(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() \
                     ELSE pg_current_wal_insert_lsn() END AS TEXT) AS lsn",
                )
                .get_result(db.connection())
                .map_err(failed)?;
                Ok(Signal::Postgres(row.lsn.unwrap_or_default()))
            }
            #[cfg(feature = "mysql")]
            Database::Mysql(db) => {
                use diesel::OptionalExtension;
                #[derive(QueryableByName)]
                struct Status {
                    #[diesel(sql_type = Text)]
                    #[diesel(column_name = Value)]
                    value: String,
                }
                // A server that shows neither variable gives no signal: the history is read
                // every time.
                let row: Option<Status> = diesel::sql_query(
                    "SHOW GLOBAL STATUS WHERE Variable_name IN \
                     ('Innodb_lsn_current', 'Innodb_redo_log_current_lsn')",
                )
                .get_result(db.connection())
                .optional()
                .map_err(failed)?;
                row.map(|row| Signal::Mysql(row.value))
                    .ok_or_else(|| MigrateError::BadUrl {
                        url: self.db.backend().name(),
                        reason: "it gives no change signal; the history is read every time".into(),
                    })
            }
        }
    }
}

/// Which file a path names: the device and inode, on unix. Elsewhere there is no cheap way to tell,
/// and the check opens the file anew on every request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileIdentity(u64, u64);

impl FileIdentity {
    #[cfg(unix)]
    fn of(path: &std::path::Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).ok()?;
        Some(Self(meta.dev(), meta.ino()))
    }

    #[cfg(not(unix))]
    fn of(_path: &std::path::Path) -> Option<Self> {
        None
    }
}
